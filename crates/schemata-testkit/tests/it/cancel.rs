//! Cancelling a refresh: a queued one at once, a running one at its next
//! checkpoint; the cache keeps its previous state and the next refresh runs.

use schemata_testkit::{
    TestApp,
    fake_postgres::{Behaviour, FakePostgres},
    source_database,
};
use serde_json::Value;
use std::time::Duration;

async fn job_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["data"]["job_id"].as_str().unwrap().to_owned()
}

async fn cancel(app: &TestApp, id: &str, job: &str) -> reqwest::Response {
    app.delete(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
}

#[tokio::test]
async fn a_queued_refresh_is_cancelled_at_once_and_the_next_one_runs() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    // No worker yet: the run stays queued.
    let job = job_of(app.request_refresh(&id).await).await;
    assert_eq!(app.status(&id).await["cache_status"], "refreshing");
    let cancelled = cancel(&app, &id, &job).await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["data"]["status"], "cancelled");
    assert_eq!(cancelled["data"]["error"], "Cancelled by request.");
    let status = app.status(&id).await;
    assert_eq!(status["cache_status"], "none", "back to before: {status}");
    assert_eq!(status["last_refresh_started"], Value::Null);
    assert_eq!(status["current_job"], Value::Null);
    let again = cancel(&app, &id, &job).await;
    assert_eq!(again.status(), 409);
    let again: Value = again.json().await.unwrap();
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already ended (cancelled)")
    );

    // The cancelled job is still on the queue: the worker skips it, and a new
    // request is a new run, not joined to the cancelled one.
    let worker = app.spawn_worker();
    let next = app.request_refresh(&id).await;
    assert_eq!(next.status(), 202);
    let next: Value = next.json().await.unwrap();
    assert_ne!(next["data"]["job_id"], job.as_str());
    assert_eq!(next["data"]["coalesced"], false);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh");
    assert_eq!(app.all_objects(&id).await.len(), 1);
    let run: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["data"]["status"], "cancelled", "the worker left it so");
    worker.stop().await;
}

#[tokio::test]
async fn a_running_refresh_stops_at_its_next_checkpoint_and_the_cache_keeps_its_state() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int); CREATE TABLE u (id int);").await;
    let id = app.create_connection("src", &source).await;
    let mut settings = app.worker_settings();
    settings.concurrency = 1;
    // Only a cancel can end the wedged read in this test's lifetime.
    settings.sources.limits.statement_timeout = Duration::from_secs(300);
    settings.job_timeout = Duration::from_secs(600);
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let before = app.wait_for_refresh(&id).await;
    assert_eq!(before["cache_status"], "fresh");

    // Point the connection at a server that passes the health check, then
    // never answers the refresh's BEGIN.
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &serde_json::json!({"configuration": {"url": format!("postgres://reader:pw@127.0.0.1:{}/app", wedged.port)}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let job = job_of(app.request_refresh(&id).await).await;
    app.wait_for_job(&id, "running").await;
    assert_eq!(cancel(&app, &id, &job).await.status(), 200);

    // Pointed elsewhere, the cache is stale (it shows the old database) until
    // a hard refresh reads the new one; the cancel leaves it as it was.
    let status = app.status(&id).await;
    assert_eq!(status["cache_status"], "stale", "{status}");
    assert_eq!(
        status["last_refresh_started"], before["last_refresh_started"],
        "a client polling for finished > started is answered"
    );
    assert_eq!(status["last_result"], before["last_result"]);
    assert_eq!(status["schema_version"], before["schema_version"]);
    assert_eq!(app.all_objects(&id).await.len(), 2, "nothing lost");

    // The worker's only slot is free again: the next refresh of a healthy
    // source runs to the end.
    let other = source_database("CREATE TABLE v (id int);").await;
    let other_id = app.create_connection("other", &other).await;
    assert_eq!(app.request_refresh(&other_id).await.status(), 202);
    assert_eq!(
        app.wait_for_refresh(&other_id).await["cache_status"],
        "fresh"
    );
    let run: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["data"]["status"], "cancelled");
    worker.stop().await;
}

#[tokio::test]
async fn a_cancelled_scheduled_refresh_does_not_come_straight_back() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app
        .create_connection_with(&serde_json::json!({
            "name": "auto", "type": "postgresql",
            "configuration": {"url": source.url()}, "auto_refresh": true
        }))
        .await;
    // Never refreshed, so due: the scheduler queues it (no worker runs).
    assert_eq!(
        schemata_store::schedule::enqueue_due(&app.pool, 10)
            .await
            .unwrap(),
        1
    );
    let runs: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes"))
        .await
        .json()
        .await
        .unwrap();
    let job = runs["data"][0]["job_id"].as_str().unwrap().to_owned();
    assert_eq!(runs["data"][0]["trigger"], "schedule");
    assert_eq!(cancel(&app, &id, &job).await.status(), 200);
    assert_eq!(
        schemata_store::schedule::enqueue_due(&app.pool, 10)
            .await
            .unwrap(),
        0,
        "due again only one TTL after the cancel"
    );
    // A client can still ask at once.
    assert_eq!(app.request_refresh(&id).await.status(), 202);
}
