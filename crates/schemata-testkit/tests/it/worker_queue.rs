//! The worker wakes on NOTIFY, not by polling, and stops cleanly.

use schemata_testkit::{TestApp, source_database};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn an_idle_worker_picks_up_a_job_within_a_second_by_notify_alone() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let connection_id = app.create_connection("tiny", &source_url).await;
    let mut settings = app.worker_settings();
    // Neither the fallback poll nor apalis's heartbeat (which also fetches) can
    // fire during the test: only a notification can wake the worker.
    settings.poll_interval = Duration::from_secs(600);
    settings.heartbeat_interval = Duration::from_secs(600);
    let worker = app.spawn_worker_with(settings);
    // Let the worker register and go idle: until its LISTEN session is up and
    // apalis has registered it (a job can only be locked by a registered
    // worker; a notification that comes first is spent for nothing). A fixed
    // pause was not always enough on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'
               AND EXISTS (SELECT 1 FROM apalis.workers WHERE worker_type = $1)",
        )
        .bind(schemata_store::QUEUE_NAME)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if listening > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let accepted: Value = app
        .request_refresh(&connection_id)
        .await
        .json()
        .await
        .unwrap();
    let status = app.wait_for_refresh(&connection_id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh");
    let run_id: uuid::Uuid = accepted["data"]["job_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pickup_ms: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM started_at - queued_at)::float8 * 1000 FROM refresh_runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        pickup_ms < 1000.0,
        "picked up {pickup_ms:.0} ms after it was queued: not by notification"
    );
}
