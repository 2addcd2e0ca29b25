//! SIGTERM on a worker: it stops taking jobs, gives running refreshes the
//! grace period, and hands back what it cannot finish so that another worker
//! takes it at once, without counting an attempt.

use schemata_testkit::{
    TestApp,
    fake_postgres::{Behaviour, FakePostgres},
};
use std::time::Duration;

#[tokio::test]
async fn a_stopping_worker_hands_back_what_it_cannot_finish_to_a_live_worker() {
    let app = TestApp::spawn().await;
    // Refreshes of this source never finish: they wait on BEGIN.
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    // One user per connection, to tell their sessions apart.
    let first = app
        .create_connection(
            "first",
            &format!("postgres://first:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let second = app
        .create_connection(
            "second",
            &format!("postgres://second:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let reads_of = |user: &str| {
        wedged
            .sessions()
            .iter()
            .filter(|s| s.parameter("user") == Some(user))
            .count()
    };

    let mut settings = app.worker_settings();
    settings.shutdown_timeout = Duration::from_millis(500);
    settings.sources.limits.statement_timeout = Duration::from_secs(300);
    settings.job_timeout = Duration::from_secs(600);
    // Neither the orphan check nor the queue's heartbeats may be what brings
    // the runs over: only a hand-back can, within the wait below.
    settings.orphan_check_interval = Duration::from_secs(3600);
    settings.heartbeat_interval = Duration::from_secs(60);
    let mut stopping_settings = settings.clone();
    stopping_settings.concurrency = 1;
    let stopping = app.spawn_worker_with(stopping_settings);
    assert_eq!(app.request_refresh(&first).await.status(), 202);
    app.wait_for_job(&first, "running").await;
    // Queued behind the first, on a worker with one slot.
    assert_eq!(app.request_refresh(&second).await.status(), 202);
    let job = app.status(&first).await["current_job"]["job_id"].clone();
    assert_eq!(app.status(&first).await["current_job"]["attempt"], 1);
    let first_reads = reads_of("first");
    // (Each request's health check was a session too.)
    let second_reads = reads_of("second");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reads_of("second"), second_reads, "queued behind the first");

    let taking_over = app.spawn_worker_with(settings);
    // As SIGTERM: returns once the grace period is over and the worker is gone.
    stopping.stop().await;

    // Both are read by the live worker: the running one handed back, the
    // queued one (fetched or not by the stopping worker) not stranded.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reads_of("first") == first_reads || reads_of("second") == second_reads {
        assert!(
            std::time::Instant::now() < deadline,
            "not taken over: {} then {} reads of the first, {} then {} of the second",
            first_reads,
            reads_of("first"),
            second_reads,
            reads_of("second")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.wait_for_job(&first, "running").await;
    app.wait_for_job(&second, "running").await;
    let status = app.status(&first).await;
    assert_eq!(
        status["current_job"]["job_id"], job,
        "the same run: {status}"
    );
    assert_eq!(
        status["current_job"]["attempt"], 1,
        "a handed-back attempt is not counted: {status}"
    );
    // Nothing stays behind: cancel both and the live worker stops cleanly.
    for connection in [&first, &second] {
        let job = app.status(connection).await["current_job"]["job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let cancelled = app
            .delete(&format!(
                "/api/connections/{connection}/schemas/refreshes/{job}"
            ))
            .await;
        assert_eq!(cancelled.status(), 200);
    }
    taking_over.stop().await;
}

/// A hand-back costs no attempt, so a run whose worker is stopped on every
/// try would circle for ever: after `MAX_HAND_BACKS` hand-backs the next
/// stopping worker fails it instead, and says why.
#[tokio::test]
async fn a_run_handed_back_again_and_again_ends_failed_after_the_limit() {
    let app = TestApp::spawn().await;
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let id = app
        .create_connection(
            "restarted",
            &format!("postgres://restarted:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let mut settings = app.worker_settings();
    settings.shutdown_timeout = Duration::from_millis(200);
    settings.sources.limits.statement_timeout = Duration::from_secs(300);
    settings.job_timeout = Duration::from_secs(600);
    settings.orphan_check_interval = Duration::from_secs(3600);
    settings.heartbeat_interval = Duration::from_secs(60);
    settings.concurrency = 1;
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let job = app.status(&id).await["current_job"]["job_id"].clone();
    let limit = schemata_store::runs::MAX_HAND_BACKS;
    for stop in 0..=limit {
        let sessions = wedged.sessions().len();
        let worker = app.spawn_worker_with(settings.clone());
        // Stopped once it is reading (its session is on the source).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while wedged.sessions().len() == sessions {
            assert!(
                std::time::Instant::now() < deadline,
                "stop {stop}: never picked up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.wait_for_job(&id, "running").await;
        worker.stop().await;
        let status = app.status(&id).await;
        if stop < limit {
            assert_eq!(
                status["current_job"]["job_id"], job,
                "stop {stop}: handed back: {status}"
            );
            assert_eq!(
                status["current_job"]["status"], "queued",
                "stop {stop}: {status}"
            );
        } else {
            assert!(status["current_job"].is_null(), "failed at last: {status}");
            let error = status["last_refresh_error"].as_str().unwrap_or_default();
            assert!(error.contains("handed back 5 times"), "{status}");
        }
    }
}
