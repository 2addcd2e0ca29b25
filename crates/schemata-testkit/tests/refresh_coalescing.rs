//! One refresh per connection at a time, whatever the concurrency.

use futures::future::join_all;
use schemata_testkit::{TestApp, fixture, source_database};
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test]
async fn fifty_concurrent_refreshes_share_one_job() {
    let app = TestApp::spawn().await;
    let source_url = source_database(&fixture("pagila-schema.postgres.sql")).await;
    let connection_id = app.create_connection("pagila", &source_url).await;
    let path = format!("/api/connections/{connection_id}/schemas/refresh");

    let responses = join_all((0..50).map(|_| app.post_empty(&path))).await;
    let mut job_ids = BTreeSet::new();
    let mut fresh_jobs = 0;
    for response in responses {
        assert_eq!(response.status(), 202);
        assert!(response.headers().contains_key("location"));
        let body: Value = response.json().await.unwrap();
        job_ids.insert(body["data"]["job_id"].as_str().unwrap().to_owned());
        if body["data"]["coalesced"] == false {
            fresh_jobs += 1;
        }
    }
    assert_eq!(job_ids.len(), 1, "every answer names the same job");
    assert_eq!(fresh_jobs, 1, "exactly one request created the job");
    let (runs, jobs) = app.runs_and_jobs().await;
    assert_eq!((runs, jobs), (1, 1));

    // Once that refresh is done, the next request makes a new job.
    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&connection_id).await;
    assert_eq!(status["cache_status"], "fresh");
    let next: Value = app.post_empty(&path).await.json().await.unwrap();
    assert_eq!(next["data"]["coalesced"], false);
    assert!(!job_ids.contains(next["data"]["job_id"].as_str().unwrap()));
    app.wait_for_refresh(&connection_id).await;
    worker.stop().await;
}

#[tokio::test]
async fn status_shows_the_queued_job_while_the_cache_is_refreshing() {
    let app = TestApp::spawn().await;
    let source_url = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let connection_id = app.create_connection("tiny", &source_url).await;
    let accepted: Value = app
        .request_refresh(&connection_id)
        .await
        .json()
        .await
        .unwrap();
    let status = app.status(&connection_id).await;
    assert_eq!(status["cache_status"], "refreshing");
    assert_eq!(status["current_job"]["job_id"], accepted["data"]["job_id"]);
    assert_eq!(status["current_job"]["status"], "queued");
    assert_eq!(status["current_job"]["attempt"], 0);
    assert!(status["last_refresh_started"].is_string());
    assert_eq!(status["last_refresh_finished"], Value::Null);

    let worker = app.spawn_worker();
    let status = app.wait_for_refresh(&connection_id).await;
    assert_eq!(status["cache_status"], "fresh");
    assert_eq!(status["current_job"], Value::Null);
    assert_eq!(status["last_result"]["table_count"], 1);
    worker.stop().await;
}
