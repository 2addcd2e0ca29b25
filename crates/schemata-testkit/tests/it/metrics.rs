//! Prometheus `/metrics` on the API and the worker: requests by route pattern
//! and status, the queue's depth, job outcomes and durations, pickup latency,
//! object counts and health-check latency.

use schemata_testkit::{TestApp, source_database};

fn value_of(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test]
async fn both_processes_serve_prometheus_metrics_without_ids_in_labels() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int); CREATE TABLE u (id int);").await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    assert_eq!(app.get("/api/no/such/route").await.status(), 404);

    let api = app.send(app.client.get(app.url("/metrics"))).await.unwrap();
    assert_eq!(api.status(), 200);
    assert!(
        api.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = api.text().await.unwrap();
    assert!(
        value_of(
            &text,
            r#"schemata_http_requests_total{method="POST",route="/api/connections/{id}/schemas/refresh",status="202"}"#
        ) >= 1.0
    );
    assert!(
        value_of(
            &text,
            r#"schemata_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ) >= 1.0
    );
    assert!(text.contains("schemata_http_request_duration_seconds_bucket{"));
    assert!(text.contains(
        r#"schemata_source_health_check_seconds_count{kind="postgresql",result="healthy"}"#
    ));
    assert_eq!(
        value_of(&text, r#"schemata_refresh_runs{status="running"}"#),
        0.0
    );
    assert!(
        !text.contains(&id),
        "no ids in labels: one series per connection would explode"
    );

    let ops = format!("http://127.0.0.1:{}/metrics", worker.ops_port);
    let text = app
        .client
        .get(ops)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(value_of(&text, r#"schemata_refresh_jobs_total{outcome="succeeded"}"#) >= 1.0);
    assert!(text.contains("schemata_refresh_job_duration_seconds_bucket{outcome=\"succeeded\""));
    assert!(value_of(&text, "schemata_refresh_pickup_seconds_count") >= 1.0);
    assert!(value_of(&text, "schemata_refresh_objects_written_total") >= 2.0);
    assert_eq!(
        value_of(&text, r#"schemata_refresh_runs{status="queued"}"#),
        0.0
    );
    worker.stop().await;
}
