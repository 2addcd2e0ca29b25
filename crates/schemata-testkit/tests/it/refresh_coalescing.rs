//! One refresh per connection at a time, whatever the concurrency.

use futures::future::join_all;
use schemata_testkit::{TestApp, fixture, source_database};
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[tokio::test]
async fn fifty_concurrent_refreshes_share_one_job() {
    let app = TestApp::spawn().await;
    let source_url = source_database(&fixture("pagila-schema.postgres.sql")).await;
    let connection_id = app.create_connection("pagila", &source_url).await;
    let path = format!("/api/connections/{connection_id}/schemas/refresh");

    let responses = join_all((0..50).map(|_| app.post_empty(&path))).await;
    let mut job_ids = BTreeSet::new();
    let mut fresh_jobs = 0;
    for response in responses {
        assert_eq!(response.status(), 202);
        assert!(response.headers().contains_key("location"));
        let body: Value = response.json().await.unwrap();
        job_ids.insert(body["data"]["job_id"].as_str().unwrap().to_owned());
        if body["data"]["coalesced"] == false {
            fresh_jobs += 1;
        }
    }
    assert_eq!(job_ids.len(), 1, "every answer names the same job");
    assert_eq!(fresh_jobs, 1, "exactly one request created the job");
    let (runs, jobs) = app.runs_and_jobs().await;
    assert_eq!((runs, jobs), (1, 1));

    // Once that refresh is done, the next request makes a new job.
    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&connection_id).await;
    assert_eq!(status["cache_status"], "fresh");
    let next: Value = app.post_empty(&path).await.json().await.unwrap();
    assert_eq!(next["data"]["coalesced"], false);
    assert!(!job_ids.contains(next["data"]["job_id"].as_str().unwrap()));
    app.wait_for_refresh(&connection_id).await;
    worker.stop().await;
}

#[tokio::test]
async fn status_shows_the_queued_job_while_the_cache_is_refreshing() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let connection_id = app.create_connection("tiny", &source_url).await;
    let accepted: Value = app
        .request_refresh(&connection_id)
        .await
        .json()
        .await
        .unwrap();
    let status = app.status(&connection_id).await;
    assert_eq!(status["cache_status"], "refreshing");
    assert_eq!(status["current_job"]["job_id"], accepted["data"]["job_id"]);
    assert_eq!(status["current_job"]["status"], "queued");
    assert_eq!(status["current_job"]["attempt"], 0);
    assert!(status["last_refresh_started"].is_string());
    assert_eq!(status["last_refresh_finished"], Value::Null);

    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&connection_id).await;
    assert_eq!(status["cache_status"], "fresh");
    assert_eq!(status["current_job"], Value::Null);
    assert_eq!(status["last_result"]["table_count"], 1);
    worker.stop().await;
}

async fn ask(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .post_empty(&format!("/api/connections/{id}/schemas/refresh{query}"))
        .await;
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["data"].clone()
}

async fn run_options(app: &TestApp, job_id: &Value) -> (bool, Vec<String>) {
    let id: uuid::Uuid = job_id.as_str().unwrap().parse().unwrap();
    sqlx::query_as("SELECT hard_refresh, only_tables FROM refresh_runs WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_joins_only_a_queued_run_that_covers_it_and_otherwise_widens_it() {
    let app = TestApp::spawn().await;
    let source_url = source_database(
        "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE SCHEMA sales; CREATE TABLE sales.o (id int);",
    )
    .await;
    let id = app.create_connection("src", &source_url).await;
    let first = ask(&app, &id, "?hard_refresh=false&tables=public.a").await;
    assert_eq!(
        (first["coalesced"].clone(), first["widened"].clone()),
        (json!(false), json!(false))
    );
    let same = ask(&app, &id, "?hard_refresh=false&tables=public.a").await;
    assert_eq!(same["job_id"], first["job_id"]);
    assert_eq!(
        (same["coalesced"].clone(), same["widened"].clone()),
        (json!(true), json!(false))
    );

    let wider = ask(&app, &id, "?hard_refresh=false&tables=public.b").await;
    assert_eq!(wider["job_id"], first["job_id"]);
    assert_eq!(wider["widened"], true);
    assert_eq!(
        run_options(&app, &first["job_id"]).await,
        (false, vec!["public.a".into(), "public.b".into()])
    );

    let hard = ask(&app, &id, "").await;
    assert_eq!(
        hard["job_id"], first["job_id"],
        "a queued run is widened, not duplicated"
    );
    assert_eq!(hard["widened"], true);
    assert_eq!(run_options(&app, &first["job_id"]).await, (true, vec![]));
    let covered = ask(&app, &id, "?hard_refresh=false&schemas=sales").await;
    assert_eq!(
        (covered["widened"].clone(), covered["coalesced"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(app.runs_and_jobs().await, (1, 1));

    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(
        status["last_result"]["table_count"], 3,
        "the widened run read everything"
    );
}

#[tokio::test]
async fn a_request_the_running_refresh_does_not_cover_queues_a_follow_up() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE a (id int); CREATE TABLE b (id int);").await;
    let id = app.create_connection("src", &source_url).await;
    // Holds the worker at its snapshot write, so the first run stays `running`.
    let mut gate = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE schema_objects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *gate)
        .await
        .unwrap();
    let worker = app.spawn_worker();
    let partial = ask(&app, &id, "?hard_refresh=false&tables=public.a").await;
    app.wait_for_job(&id, "running").await;
    let hard = ask(&app, &id, "").await;
    assert_eq!(
        hard["coalesced"], false,
        "a soft run of one table cannot stand for a hard refresh"
    );
    assert_ne!(hard["job_id"], partial["job_id"]);
    assert_eq!(hard["follows_job_id"], partial["job_id"]);
    let joined = ask(&app, &id, "?hard_refresh=false&tables=public.b").await;
    assert_eq!(
        joined["job_id"], hard["job_id"],
        "the queued follow-up covers it"
    );
    let status = app.status(&id).await;
    assert_eq!(status["current_job"]["job_id"], partial["job_id"]);
    assert_eq!(status["next_job"]["job_id"], hard["job_id"]);
    assert_eq!(status["next_job"]["status"], "queued");

    gate.commit().await.unwrap();
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh");
    assert_eq!(status["last_result"]["job_id"], hard["job_id"]);
    type Timestamp = Option<chrono::DateTime<chrono::Utc>>;
    let order: Vec<(uuid::Uuid, Timestamp, Timestamp, String)> = sqlx::query_as(
        "SELECT id, started_at, finished_at, status FROM refresh_runs ORDER BY queued_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(order.len(), 2);
    assert!(order.iter().all(|r| r.3 == "succeeded"), "{order:?}");
    assert!(
        order[1].1.unwrap() >= order[0].2.unwrap(),
        "the follow-up started only after the first run finished: {order:?}"
    );
    assert_eq!(app.all_objects(&id).await.len(), 2);
}

#[tokio::test]
async fn deleting_a_connection_while_refreshes_are_accepted_is_a_404_never_a_500() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE a (id int);").await;
    for round in 0..10 {
        let id = app
            .create_connection(&format!("c{round}"), &source_url)
            .await;
        let (app, id) = (&app, &id);
        let refreshes = join_all((0..8).map(|n| async move {
            if n % 2 == 0 {
                app.request_refresh(id).await
            } else {
                app.patch(
                    &format!("/api/connections/{id}"),
                    &json!({"auto_refresh": n % 4 == 1}),
                )
                .await
            }
        }));
        let deletion = async {
            tokio::time::sleep(std::time::Duration::from_millis(round * 2)).await;
            app.delete(&format!("/api/connections/{id}")).await
        };
        let (responses, deleted) = tokio::join!(refreshes, deletion);
        assert_eq!(deleted.status(), 204);
        for response in responses {
            let status = response.status().as_u16();
            assert!(
                [200, 202, 404].contains(&status),
                "round {round}: {status} {}",
                response.text().await.unwrap()
            );
        }
    }
}

#[tokio::test]
async fn an_object_and_its_fields_are_read_from_one_snapshot() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE t (a int); COMMENT ON TABLE t IS '1';").await;
    let id = app.create_connection("src", &source_url).await;
    let worker = app.spawn_worker();
    app.request_refresh(&id).await;
    app.wait_for_refresh(&id).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let reader = async {
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let object: Value = app
                .get(&format!("/api/connections/{id}/schemas/public.t"))
                .await
                .json()
                .await
                .unwrap();
            let fields = object["data"]["fields"].as_array().unwrap().len();
            assert_eq!(
                object["data"]["comment"].as_str().unwrap(),
                fields.to_string(),
                "the comment counts the columns: both must come from one snapshot"
            );
            reads += 1;
        }
        reads
    };
    let writer = async {
        for round in 0..12 {
            let columns = if round % 2 == 0 { 2 } else { 1 };
            let change = if columns == 2 {
                "ALTER TABLE t ADD COLUMN b int; COMMENT ON TABLE t IS '2';"
            } else {
                "ALTER TABLE t DROP COLUMN b; COMMENT ON TABLE t IS '1';"
            };
            schemata_testkit::load(&source_url, change).await;
            app.request_refresh(&id).await;
            app.wait_for_refresh(&id).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (reads, ()) = tokio::join!(reader, writer);
    worker.stop().await;
    assert!(
        reads > 12,
        "the reader ran alongside the refreshes ({reads} reads)"
    );
}

/// 60 refresh requests a minute per API key, counted in the database: a second
/// API process on the same database shares the count.
#[tokio::test]
async fn the_sixty_first_refresh_request_of_a_minute_is_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    let path = format!("/api/connections/{id}/schemas/refresh");
    // Held at the start of a minute, so the test's requests share one window.
    let into_minute = chrono::Utc::now().timestamp() % 60;
    if into_minute > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - into_minute) as u64)).await;
    }
    for n in 0..30 {
        let response = app.post_empty(&path).await;
        assert_eq!(response.status(), 202, "request {n}");
    }
    // Another API process (a replica) on the same database, same key.
    let replica = app.replica().await;
    for n in 30..60 {
        let response = replica.post_empty(&path).await;
        assert_eq!(response.status(), 202, "request {n}");
    }
    let refused = app.post_empty(&path).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 60 a minute")
    );
    // Another key of the organization has its own budget; reads are not limited.
    let other = app.key_for("acme", &schemata_core::Scope::ALL).await;
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        app.get(&format!("/api/connections/{id}/schemas/status"))
            .await
            .status(),
        200
    );
}
