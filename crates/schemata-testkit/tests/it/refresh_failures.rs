//! A refresh that fails never costs the cache anything.

use schemata_core::RefreshJob;
use schemata_store::runs;
use schemata_testkit::{TestApp, source_database};
use schemata_worker::{RefreshOutcome, refresh};
use serde_json::Value;

const SHOP: &str = "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
                    CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id));";

async fn objects(app: &TestApp, connection_id: &str) -> Vec<String> {
    app.all_objects(connection_id)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn failed_refresh_keeps_the_previous_cache_and_reports_the_error() {
    let app = TestApp::spawn().await;
    let source_url = source_database(SHOP).await;
    let connection_id = app.create_connection("shop", &source_url).await;
    let refresh_path = format!("/api/connections/{connection_id}/schemas/refresh");
    let worker = app.spawn_worker();
    app.post_empty(&refresh_path).await;
    let first = app.wait_for_refresh(&connection_id).await;
    assert_eq!(first["cache_status"], "fresh");
    worker.stop().await;
    let cached = objects(&app, &connection_id).await;
    assert_eq!(cached, ["public.customers", "public.orders"]);

    // Queue a refresh while the source is healthy, then lose the source before
    // the worker gets to it: the refresh fails mid-way.
    assert_eq!(app.post_empty(&refresh_path).await.status(), 202);
    let database = source_url.name().to_owned();
    let mut admin = sqlx::PgConnection::connect(&source_url.server().database_url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&connection_id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "error");
    let error = status["last_refresh_error"].as_str().unwrap();
    assert!(error.contains("does not exist"), "{error}");
    assert_eq!(status["last_result"]["ok"], false);
    assert_eq!(
        status["schema_version"], first["schema_version"],
        "the cache did not change"
    );
    assert_eq!(
        objects(&app, &connection_id).await,
        cached,
        "the previous cache is still served"
    );
    let run_status: String =
        sqlx::query_scalar("SELECT status FROM refresh_runs ORDER BY queued_at DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(run_status, "failed");
}

#[tokio::test]
async fn snapshot_write_that_fails_half_way_leaves_the_old_cache_whole() {
    let app = TestApp::spawn().await;
    let source_url = source_database(SHOP).await;
    let connection_id = app.create_connection("shop", &source_url).await;
    let worker = app.spawn_worker();
    app.request_refresh(&connection_id).await;
    let before = app.wait_for_refresh(&connection_id).await;
    worker.stop().await;

    // Our database refuses one field half-way through the snapshot write, after
    // the old rows were already deleted inside the transaction.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_explode() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.fields @> '[{\"name\": \"explode\"}]' THEN RAISE EXCEPTION 'disk full'; END IF;
         RETURN NEW; END $$;
         CREATE TRIGGER refuse_explode BEFORE INSERT ON schema_objects
             FOR EACH ROW EXECUTE FUNCTION refuse_explode();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    schemata_testkit::load(&source_url, "ALTER TABLE orders ADD COLUMN explode int;").await;

    // Through refresh(), as the worker's handler calls it.
    let context = app.refresh_context().await;
    let accepted: Value = app
        .request_refresh(&connection_id)
        .await
        .json()
        .await
        .unwrap();
    let run_id: uuid::Uuid = accepted["data"]["job_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let run = runs::get(&app.pool, run_id).await.unwrap().unwrap();
    let task_id = run.task_id.clone().unwrap();
    let job = RefreshJob {
        run_id,
        connection_id: run.connection_id,
    };
    let outcome = refresh(&context, job, &task_id).await.unwrap();
    assert!(
        matches!(outcome, RefreshOutcome::Failed(ref m) if m.contains("previous cache is kept")),
        "{outcome:?}"
    );

    assert_eq!(
        objects(&app, &connection_id).await,
        ["public.customers", "public.orders"]
    );
    let orders: Value = app
        .get(&format!(
            "/api/connections/{connection_id}/schemas/public.orders"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        orders["data"]["fields"].as_array().unwrap().len(),
        2,
        "the old fields are all still there"
    );
    let status = app.status(&connection_id).await;
    assert_eq!(status["cache_status"], "error");
    assert_eq!(status["schema_version"], before["schema_version"]);
    assert_eq!(
        refresh(&context, job, &task_id).await.unwrap(),
        RefreshOutcome::Skipped,
        "a repeated delivery of a finished run does nothing"
    );

    // Once our database accepts the write again, the next refresh caches the column.
    sqlx::raw_sql("DROP TRIGGER refuse_explode ON schema_objects")
        .execute(&app.pool)
        .await
        .unwrap();
    let worker = app.spawn_worker();
    app.request_refresh(&connection_id).await;
    let after = app.wait_for_refresh(&connection_id).await;
    worker.stop().await;
    assert_eq!(after["cache_status"], "fresh");
    let orders: Value = app
        .get(&format!(
            "/api/connections/{connection_id}/schemas/public.orders"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["data"]["fields"].as_array().unwrap().len(), 3);
}

use sqlx::Connection;

#[tokio::test]
async fn a_run_whose_job_the_queue_gave_up_on_is_failed_and_no_longer_blocks_refreshes() {
    let app = TestApp::spawn().await;
    let source_url = source_database(SHOP).await;
    let connection_id = app.create_connection("shop", &source_url).await;
    let path = format!("/api/connections/{connection_id}/schemas/refresh");
    let first: Value = app.post_empty(&path).await.json().await.unwrap();
    // The queue gives up on the job (say our database was down for every retry)
    // and the run is older than the grace period.
    sqlx::query("UPDATE apalis.jobs SET status = 'Killed', done_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE refresh_runs SET queued_at = now() - interval '5 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let coalesced: Value = app.post_empty(&path).await.json().await.unwrap();
    assert_eq!(
        coalesced["data"]["job_id"], first["data"]["job_id"],
        "before the sweep the dead run still coalesces"
    );

    let context = app.refresh_context().await;
    assert_eq!(
        schemata_worker::jobs::maintenance::sweep(&context, 90)
            .await
            .unwrap(),
        1
    );
    let status = app.status(&connection_id).await;
    assert_eq!(status["cache_status"], "error");
    assert!(
        status["last_refresh_error"]
            .as_str()
            .unwrap()
            .contains("lost by the queue")
    );
    assert_eq!(status["current_job"], Value::Null);
    assert_eq!(
        schemata_worker::jobs::maintenance::sweep(&context, 90)
            .await
            .unwrap(),
        0,
        "sweeping is idempotent"
    );

    let next: Value = app.post_empty(&path).await.json().await.unwrap();
    assert_eq!(next["data"]["coalesced"], false);
    assert_ne!(next["data"]["job_id"], first["data"]["job_id"]);
    let worker = app.spawn_worker();
    assert_eq!(
        app.wait_for_refresh(&connection_id).await["cache_status"],
        "fresh"
    );
    worker.stop().await;
}
