//! A worker killed with SIGKILL mid-refresh: its run goes back on the queue as
//! soon as PostgreSQL ends the dead worker's session (its claim lock goes with
//! it), a live worker finishes it, and the cache is whole.

use schemata_testkit::{
    ServiceProcess, TestApp,
    fake_postgres::{Behaviour, FakePostgres},
    source_database,
};
use serde_json::{Value, json};
use std::{
    path::Path,
    time::{Duration, Instant},
};

#[tokio::test]
async fn a_refresh_whose_worker_was_killed_runs_again_on_a_live_worker_within_seconds() {
    let app = TestApp::spawn().await;
    // Passes the health check, then never answers the refresh's BEGIN: the
    // refresh is wedged in its first worker when that worker is killed.
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let id = app
        .create_connection(
            "src",
            &format!("postgres://reader:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let dir = std::env::temp_dir().join(format!("schemata-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), app.store.database_url.clone()),
        (
            "SCHEMATA_ENCRYPTION_KEY".into(),
            app.store.encryption_key.clone(),
        ),
        ("SCHEMATA_WORKER_OPS_PORT".into(), "0".into()),
        ("SCHEMATA_LOG_FORMAT".into(), "json".into()),
        (
            "SCHEMATA_SOURCE_STATEMENT_TIMEOUT_SECS".into(),
            "300".into(),
        ),
    ];
    let binary = Path::new(env!("CARGO_BIN_EXE_schemata"));
    let mut doomed = ServiceProcess::spawn(binary, "worker", &env, dir.join("worker.log"));
    doomed.wait_for_line("schemata-worker started").await;
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.status(&id).await["current_job"]["status"] != "running" {
        assert!(
            Instant::now() < deadline,
            "never started:\n{}",
            doomed.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The source is fixed while the refresh is stuck on it; the next attempt
    // reads the real one.
    let source = source_database("CREATE TABLE t (id int); CREATE TABLE u (id int);").await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"url": source.url()}}),
        )
        .await;
    assert_eq!(patched.status(), 200);

    let delivered: String = sqlx::query_scalar("SELECT task_id FROM refresh_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let live = app.spawn_worker();
    let killed_at = Instant::now();
    doomed.kill();
    let status = app.wait_for_refresh(&id).await;
    let recovery = killed_at.elapsed();
    live.stop().await;
    println!("recovered {:.1} s after SIGKILL", recovery.as_secs_f64());
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(app.all_objects(&id).await.len(), 2);
    let runs: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes"))
        .await
        .json()
        .await
        .unwrap();
    let runs = runs["data"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the same run, not a new one: {runs:?}");
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["attempt"], 2, "the killed attempt counts");
    // Handed out again by the lost-worker check (a new delivery), not by the
    // queue's own heartbeat timeout, which would redeliver the same task.
    let redelivered: String = sqlx::query_scalar("SELECT task_id FROM refresh_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_ne!(redelivered, delivered);
}
