//! Freshness and auto-refresh: stale connections are refreshed by the
//! worker's scheduler through the coalescing path, never twice at once,
//! never when disabled.

use crate::support::runs_of;
use schemata_testkit::{TestApp, load, source_database};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_stale_connection_is_refreshed_by_the_scheduler_and_a_disabled_one_is_not() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let body = |name: &str, status: &str| {
        json!({"name": name, "type": "postgresql", "configuration": {"url": source.url()},
               "refresh_ttl_seconds": 1, "auto_refresh": true, "status": status})
    };
    let auto = app.create_connection_with(&body("auto", "active")).await;
    let disabled = app.create_connection_with(&body("off", "disabled")).await;
    let worker = app.spawn_worker();

    // Never refreshed: due at once, no request needed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.status(&auto).await["cache_status"] != "fresh" {
        assert!(Instant::now() < deadline, "never scheduled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The source changes; one TTL later the scheduler has picked it up.
    load(&source, "CREATE TABLE u (id int);").await;
    while app.all_objects(&auto).await.len() != 2 {
        assert!(Instant::now() < deadline, "the change was never picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    let runs = runs_of(&app, &auto).await;
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["trigger"] == "schedule"));
    assert_eq!(runs_of(&app, &disabled).await, Vec::<Value>::new());
    assert_eq!(app.status(&disabled).await["cache_status"], "none");
}

#[tokio::test]
async fn schedulers_racing_never_queue_a_connection_twice_nor_beside_a_manual_refresh() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let mut ids = vec![];
    for n in 0..40 {
        ids.push(
            app.create_connection_with(&json!({
                "name": format!("c{n}"), "type": "postgresql",
                "configuration": {"url": source.url()}, "auto_refresh": true
            }))
            .await,
        );
    }
    // A manual refresh is queued first on one of them (no worker runs).
    assert_eq!(app.request_refresh(&ids[0]).await.status(), 202);
    let mut schedulers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let pool = app.pool.clone();
        schedulers.spawn(async move { schemata_store::schedule::enqueue_due(&pool, 7).await });
    }
    let mut queued = 0;
    while let Some(result) = schedulers.join_next().await {
        queued += result.unwrap().unwrap();
    }
    // Some passes found their rows taken by another: run them again until dry.
    loop {
        let more = schemata_store::schedule::enqueue_due(&app.pool, 100)
            .await
            .unwrap();
        if more == 0 {
            break;
        }
        queued += more;
    }
    assert_eq!(
        queued, 39,
        "each due connection once; the manual one joined nothing"
    );
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT trigger, count(*) FROM refresh_runs GROUP BY trigger ORDER BY trigger",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(counts, [("api".to_owned(), 1), ("schedule".to_owned(), 39)]);
    let per_connection: i64 = sqlx::query_scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM refresh_runs GROUP BY connection_id) c",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(per_connection, 1);
}
