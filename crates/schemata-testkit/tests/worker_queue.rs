//! The worker wakes on NOTIFY, not only by polling, and stops cleanly.

use schemata_testkit::{TestApp, source_database};
use std::time::Duration;

#[tokio::test]
async fn worker_picks_up_a_job_on_notify_long_before_its_poll_interval() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let connection_id = app.create_connection("tiny", &source_url).await;
    let mut settings = app.worker_settings();
    settings.poll_interval = Duration::from_secs(600);
    let worker = app.spawn_worker_with(settings);
    // Let the worker register and go idle, so only a notification can wake it.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(app.request_refresh(&connection_id).await.status(), 202);
    // wait_for_refresh gives up after 60 s, ten times less than the poll interval:
    // a fresh cache here can only come from the worker waking on NOTIFY.
    let status = app.wait_for_refresh(&connection_id).await;
    assert_eq!(status["cache_status"], "fresh");
    worker.stop().await;
}
