//! When the scheduler refreshes: cron schedules in a time zone (validated,
//! shown as `next_refresh_at`), the backoff of a failing source, and stale
//! while revalidate (`refresh_on_read`).

use crate::support::runs_of;
use chrono::{DateTime, Utc};
use schemata_testkit::{TestApp, free_port, source_database};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

async fn connection(app: &TestApp, id: &str) -> Value {
    let body: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].clone()
}

#[tokio::test]
async fn a_schedule_is_validated_at_patch_and_its_next_occurrence_is_shown() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("scheduled", source.url()).await;
    let path = format!("/api/connections/{id}");
    for (body, says) in [
        (
            json!({"refresh_schedule": "every night"}),
            "refresh_schedule",
        ),
        (
            json!({"refresh_schedule": "0 0 3 * * *"}),
            "refresh_schedule",
        ),
        (json!({"refresh_schedule": "0 0 31 2 *"}), "never occurs"),
        (json!({"refresh_schedule": 5}), "refresh_schedule"),
        (
            json!({"refresh_schedule": "0 3 * * *", "refresh_timezone": "Mars/Olympus"}),
            "Mars/Olympus",
        ),
        (json!({"refresh_on_read": "yes"}), "refresh_on_read"),
    ] {
        let response = app.patch(&path, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["success"], false);
        assert_eq!(error["error"]["code"], "bad_request", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // Kolkata keeps UTC+05:30 all year: 03:00 there is 21:30 UTC.
    let response = app
        .patch(
            &path,
            &json!({"refresh_schedule": "0 3 * * *", "refresh_timezone": "Asia/Kolkata",
                    "auto_refresh": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    let updated = &updated["data"];
    assert_eq!(updated["refresh_schedule"], "0 3 * * *");
    assert_eq!(updated["refresh_timezone"], "Asia/Kolkata");
    // Never refreshed: due at once, whatever the schedule.
    assert!(at(&updated["next_refresh_at"]) <= Utc::now());

    // Once refreshed, the next refresh is the schedule's next occurrence.
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let worker = app.spawn_worker();
    app.wait_for_refresh(&id).await;
    let status = app.status(&id).await;
    let next = at(&status["next_refresh_at"]);
    assert!(next.to_rfc3339().ends_with("T21:30:00+00:00"), "{status}");
    assert!(next > Utc::now() && next <= Utc::now() + chrono::Duration::hours(24));
    assert_eq!(
        connection(&app, &id).await["next_refresh_at"],
        status["next_refresh_at"]
    );
    // Not due: the scheduler leaves it alone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    worker.stop().await;
    assert_eq!(runs_of(&app, &id).await.len(), 1);

    // Back to the TTL; auto-refresh off shows no next refresh.
    let cleared: Value = app
        .patch(
            &path,
            &json!({"refresh_schedule": null, "auto_refresh": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["data"]["refresh_schedule"], Value::Null);
    assert_eq!(cleared["data"]["next_refresh_at"], Value::Null);
}

#[tokio::test]
async fn a_minutely_schedule_runs_at_the_top_of_the_next_minute() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app
        .create_connection_with(&json!({
            "name": "minutely", "type": "postgresql", "configuration": {"url": source.url()},
            "auto_refresh": true, "refresh_schedule": "* * * * *", "refresh_ttl_seconds": 3600
        }))
        .await;
    let worker = app.spawn_worker();
    // The first refresh at once (never refreshed), the second at a minute's start.
    let deadline = Instant::now() + Duration::from_secs(75);
    loop {
        let runs = runs_of(&app, &id).await;
        if runs.len() >= 2 && runs.iter().all(|r| !r["finished_at"].is_null()) {
            let second = at(&runs[0]["queued_at"]);
            assert!(
                chrono::Timelike::second(&second) < 5,
                "queued at {second}, not at the top of a minute"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never scheduled twice: {runs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker.stop().await;
    let next = at(&app.status(&id).await["next_refresh_at"]);
    assert_eq!(chrono::Timelike::second(&next), 0);
    assert!(next > Utc::now() && next <= Utc::now() + chrono::Duration::seconds(61));
}

#[tokio::test]
async fn a_failing_source_backs_off_turns_unhealthy_and_a_success_resets_it() {
    let app = TestApp::spawn().await;
    // Nothing listens there.
    let dead = format!("postgres://reader@127.0.0.1:{}/app", free_port());
    let id = app
        .create_connection_with(&json!({
            "name": "flaky", "type": "postgresql", "configuration": {"url": dead},
            "auto_refresh": true, "refresh_ttl_seconds": 1
        }))
        .await;
    let mut settings = app.worker_settings();
    // One attempt per run: each failed run is one step of the backoff.
    settings.retry_attempts = 1;
    let worker = app.spawn_worker_with(settings);
    let deadline = Instant::now() + Duration::from_secs(40);
    let runs = loop {
        let runs = runs_of(&app, &id).await;
        let failed = runs.iter().filter(|r| r["status"] == "failed").count();
        if failed >= 3 {
            break runs;
        }
        assert!(Instant::now() < deadline, "not 3 failed runs: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Newest first: the gap before each run doubles (TTL 1 s: 2 s, then 4 s).
    let gap = |newer: &Value, older: &Value| {
        (at(&newer["queued_at"]) - at(&older["finished_at"])).num_milliseconds()
    };
    let (second_gap, first_gap) = (gap(&runs[0], &runs[1]), gap(&runs[1], &runs[2]));
    assert!(first_gap >= 1_800, "{first_gap} ms after the first failure");
    assert!(
        second_gap >= 3_800,
        "{second_gap} ms after the second failure"
    );
    let status = app.status(&id).await;
    let finished = at(&status["last_refresh_finished"]);
    let next = at(&status["next_refresh_at"]);
    let waited = (next - finished).num_milliseconds();
    assert!((7_900..=8_100).contains(&waited), "{waited} ms: {status}");
    let row = connection(&app, &id).await;
    assert_eq!(row["health_status"], "unhealthy", "{row}");
    assert!(!row["health_message"].as_str().unwrap_or("").is_empty());

    // The source comes back (the connection points at one that answers):
    // one success ends the streak.
    let source = source_database("CREATE TABLE t (id int);").await;
    let response = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"url": source.url()}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.status(&id).await["cache_status"] != "fresh" {
        assert!(Instant::now() < deadline, "never refreshed after the fix");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    let (failures,): (i32,) =
        sqlx::query_as("SELECT failed_scheduled_runs FROM connections WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(failures, 0);
    let status = app.status(&id).await;
    let waited =
        (at(&status["next_refresh_at"]) - at(&status["last_refresh_finished"])).num_milliseconds();
    assert!((900..=1_100).contains(&waited), "{waited} ms: {status}");
    assert_eq!(connection(&app, &id).await["health_status"], "healthy");
}

#[tokio::test]
async fn reads_of_a_stale_cache_answer_at_once_and_queue_one_refresh() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int); CREATE TABLE u (id int);").await;
    let id = app
        .create_connection_with(&json!({
            "name": "on-read", "type": "postgresql", "configuration": {"url": source.url()},
            "refresh_ttl_seconds": 1, "refresh_on_read": true
        }))
        .await;
    assert_eq!(connection(&app, &id).await["refresh_on_read"], true);
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    worker.stop().await;
    // Past the TTL by more than a whole second (ages count in seconds).
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    // Forty reads of every kind at once, no worker running.
    let mut reads = tokio::task::JoinSet::new();
    for n in 0..40 {
        let path = match n % 3 {
            0 => format!("/api/connections/{id}/schemas"),
            1 => format!("/api/connections/{id}/schemas/public.t"),
            _ => format!("/api/connections/{id}/schemas/status"),
        };
        let request = app.client.get(app.url(&path)).bearer_auth(&app.api_key);
        reads.spawn(async move { request.send().await.unwrap().status() });
    }
    while let Some(status) = reads.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    // The stale cache was served whole, and one refresh is queued for all of them.
    assert_eq!(app.all_objects(&id).await.len(), 2);
    let runs = runs_of(&app, &id).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["status"], "queued");
    assert_eq!(app.status(&id).await["cache_status"], "refreshing");

    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh");
    assert_eq!(runs_of(&app, &id).await.len(), 2);
}

#[tokio::test]
async fn a_connection_without_refresh_on_read_is_never_refreshed_by_reads() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app
        .create_connection_with(&json!({
            "name": "plain", "type": "postgresql", "configuration": {"url": source.url()},
            "refresh_ttl_seconds": 1
        }))
        .await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    worker.stop().await;
    // Past the TTL by more than a whole second (ages count in seconds).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for _ in 0..5 {
        app.get(&format!("/api/connections/{id}/schemas")).await;
    }
    assert_eq!(app.status(&id).await["cache_status"], "stale");
    assert_eq!(runs_of(&app, &id).await.len(), 1);
}

#[tokio::test]
async fn the_connection_list_carries_each_status_on_request() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let first = app.create_connection("first", source.url()).await;
    let second = app.create_connection("second", source.url()).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&first).await.status(), 202);
    app.wait_for_refresh(&first).await;
    worker.stop().await;

    let page: Value = app
        .get("/api/connections?include=status&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], first.as_str());
    assert_eq!(
        data[0]["status"], "active",
        "the connection's own status stays"
    );
    let status = &data[0]["schema_status"];
    assert_eq!(
        status,
        &app.status(&first).await,
        "the status endpoint's body"
    );
    let cursor = page["pagination"]["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(&format!("/api/connections?include=status&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"][0]["id"], second.as_str());
    assert_eq!(next["data"][0]["schema_status"]["cache_status"], "none");

    let plain: Value = app.get("/api/connections").await.json().await.unwrap();
    assert!(plain["data"][0].get("schema_status").is_none());
    let response = app.get("/api/connections?include=secrets").await;
    assert_eq!(response.status(), 400);
}
