//! Helpers the refresh tests share: a source with a connection and a worker,
//! and a refresh followed to its end.

use schemata_testkit::{TestApp, TestDatabase, TestWorker, source_database};
use serde_json::Value;

/// Asks for a refresh (with `query`), waits for it and expects a fresh cache.
pub(crate) async fn refreshed(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .post_empty(&format!("/api/connections/{id}/schemas/refresh{query}"))
        .await;
    assert_eq!(
        response.status(),
        202,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let status = app.wait_for_refresh(id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    status
}

/// A connection's runs, newest first (up to 200).
pub(crate) async fn runs_of(app: &TestApp, id: &str) -> Vec<Value> {
    let page: Value = app
        .get(&format!(
            "/api/connections/{id}/schemas/refreshes?limit=200"
        ))
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// An app, a source loaded with `sql`, a connection to it and a worker.
pub(crate) async fn setup(sql: &str) -> (TestApp, TestDatabase, String, TestWorker) {
    let app = TestApp::spawn().await;
    let source = source_database(sql).await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    (app, source, id, worker)
}
