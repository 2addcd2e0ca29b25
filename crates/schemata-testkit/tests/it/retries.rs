//! Transient source failures are retried with backoff on the queue (not in a
//! worker slot); permanent ones fail at once; after the last attempt the cache
//! is `error` with the previous cache intact.

use schemata_testkit::{TestApp, source_database, tcp_proxy::TcpProxy};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn run(app: &TestApp, id: &str, job: &str) -> Value {
    let body: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].clone()
}

async fn queued(app: &TestApp, id: &str) -> String {
    let response = app.request_refresh(id).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["data"]["job_id"].as_str().unwrap().to_owned()
}

/// Retries 1 s, then about 3 s later: time enough to watch the wait.
fn slow_retries(app: &TestApp) -> schemata_worker::WorkerSettings {
    let mut settings = app.worker_settings();
    settings.retry_base_delay = Duration::from_secs(1);
    settings
}

#[tokio::test]
async fn a_source_that_goes_away_is_retried_later_and_a_lasting_outage_keeps_the_cache() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int); CREATE TABLE u (id int);").await;
    let port: u16 = source
        .server()
        .server_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = TcpProxy::start(port).await;
    let id = app
        .create_connection(
            "src",
            &format!(
                "postgres://postgres@127.0.0.1:{}/{}",
                proxy.port,
                source.name()
            ),
        )
        .await;

    // Healthy when asked, gone when the worker gets to it, back a moment later.
    let job = queued(&app, &id).await;
    proxy.set_open(false);
    let worker = app.spawn_worker_with(slow_retries(&app));
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let status = app.status(&id).await;
        let current = &status["current_job"];
        if current["status"] == "queued" && current["next_attempt_at"].is_string() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no retry was scheduled: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting["cache_status"], "refreshing");
    // Attempt 1 failed (or 2, on a slow machine); the next one is on the queue.
    let failed_attempts = waiting["current_job"]["attempt"].as_i64().unwrap();
    assert!((1..3).contains(&failed_attempts), "{waiting}");
    assert_eq!(waiting["current_job"]["last_error"], "unreachable");
    proxy.set_open(true);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    let done = run(&app, &id, &job).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["attempt"], failed_attempts + 1, "{done}");
    assert_eq!(done["next_attempt_at"], Value::Null);
    worker.stop().await;

    // Gone for good: every attempt fails, then the run does, and the cache stays.
    let job = queued(&app, &id).await;
    proxy.set_open(false);
    let worker = app.spawn_worker_with(slow_retries(&app));
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "error", "{status}");
    assert_eq!(status["last_refresh_error"], "unreachable");
    let failed = run(&app, &id, &job).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempt"], 3, "all three attempts: {failed}");
    assert_eq!(
        app.all_objects(&id).await.len(),
        2,
        "the previous cache is served"
    );
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    let job = queued(&app, &id).await;
    // The database disappears between the health check and the refresh.
    let admin = source.server().database_url("postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{}\" WITH (FORCE)",
        source.name()
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "error");
    assert!(
        status["last_refresh_error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{status}"
    );
    let failed = run(&app, &id, &job).await;
    assert_eq!(failed["attempt"], 1, "no second try: {failed}");
}
