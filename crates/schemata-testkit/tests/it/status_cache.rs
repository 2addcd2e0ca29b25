//! Statuses are served from memory between changes, and a change is seen at
//! once wherever it comes from: a write in the database (a worker), another
//! API replica, or after the replica lost its notifications. The cache here
//! keeps entries for a minute, so only its invalidation can make these pass.

use schemata_testkit::{TestApp, source_database};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn spawn() -> TestApp {
    TestApp::spawn_with(|s| s.status_cache_ttl = Duration::from_secs(60)).await
}

/// Polls the status until `seen` holds; fails after 5 s (a minute shorter
/// than the cache would keep a forgotten change).
async fn until(app: &TestApp, id: &str, seen: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = app.status(id).await;
        if seen(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "never seen: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_write_in_the_database_is_seen_by_the_next_reads() {
    let app = spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("source", source.url()).await;
    // Read twice: the second comes from memory.
    assert_eq!(app.status(&id).await["last_refresh_error"], Value::Null);
    assert_eq!(app.status(&id).await["last_refresh_error"], Value::Null);
    sqlx::query("UPDATE connections SET last_refresh_error = 'seen' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    until(&app, &id, |s| s["last_refresh_error"] == "seen").await;
}

#[tokio::test]
async fn a_refresh_asked_of_another_replica_shows_on_this_one() {
    let app = spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("source", source.url()).await;
    assert_eq!(app.status(&id).await["current_job"], Value::Null);
    let replica = app.replica().await;
    let asked = replica
        .post_empty(&format!("/api/connections/{id}/schemas/refresh"))
        .await;
    assert_eq!(asked.status(), 202);
    let status = until(&app, &id, |s| s["current_job"] != Value::Null).await;
    assert_eq!(status["current_job"]["status"], "queued");
    assert_eq!(status["cache_status"], "refreshing");
    // And a worker's progress to the end, written by another process.
    let worker = app.spawn_worker();
    until(&app, &id, |s| s["cache_status"] == "fresh").await;
    worker.stop().await;
}

#[tokio::test]
async fn a_replica_that_lost_its_notifications_reads_the_database_until_it_has_them_again() {
    let app = spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("source", source.url()).await;
    app.status(&id).await;
    // Cut the listener's session, then write while it is gone.
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%schemata_status%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(cut, vec![true], "one listener");
    sqlx::query("UPDATE connections SET last_refresh_error = 'while away' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    until(&app, &id, |s| s["last_refresh_error"] == "while away").await;
    // Listening again, it keeps statuses and still forgets them on change.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%schemata_status%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if listening == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the listener never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.status(&id).await;
    sqlx::query("UPDATE connections SET last_refresh_error = 'back' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    until(&app, &id, |s| s["last_refresh_error"] == "back").await;
}
