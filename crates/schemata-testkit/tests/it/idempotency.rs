//! Idempotency-Key on connection create and on refresh: a retry gets the first
//! answer, another request under the same key a 422, and keys expire.

use schemata_testkit::{TestApp, source_database};
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    key: &str,
    path: &str,
    body: Option<&Value>,
    api_key: &str,
) -> (u16, Option<String>, bool, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .bearer_auth(api_key)
        .header("Idempotency-Key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let replayed = response.headers().contains_key("idempotent-replayed");
    (
        response.status().as_u16(),
        location,
        replayed,
        response.json().await.unwrap(),
    )
}

#[tokio::test]
async fn a_retried_create_gets_the_first_answer_and_a_changed_one_is_refused() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let body =
        json!({"name": "once", "type": "postgresql", "configuration": {"url": source.url()}});
    let key = &app.api_key;
    let first = send(&app, "create-1", "/api/connections", Some(&body), key).await;
    assert_eq!(first.0, 201, "{}", first.3);
    assert!(!first.2);
    let id = first.3["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        first.1.as_deref(),
        Some(format!("/api/connections/{id}").as_str())
    );
    assert_eq!(
        first.3["data"]["refresh_ttl_seconds"], 900,
        "the default TTL"
    );
    let retry = send(&app, "create-1", "/api/connections", Some(&body), key).await;
    assert_eq!((retry.0, &retry.1, retry.2), (201, &first.1, true));
    assert_eq!(retry.3, first.3, "the same body, byte for byte");
    let listed: Value = app.get("/api/connections").await.json().await.unwrap();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "one connection"
    );

    let other =
        json!({"name": "twice", "type": "postgresql", "configuration": {"url": source.url()}});
    let reused = send(&app, "create-1", "/api/connections", Some(&other), key).await;
    assert_eq!(reused.0, 422);
    assert_eq!(reused.3["error"]["code"], "idempotency_key_reused");
    // The stored answer never holds a password, and the stored request only a keyed hash.
    let stored: (String, String) = sqlx::query_as(
        "SELECT request_hash, response::text FROM idempotency_keys WHERE key = 'create-1'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!stored.1.contains("schemata-test") && !stored.0.contains(source.url()));

    // A key is the organization's own: another may use it for itself.
    let globex = app
        .key_for("globex", &[schemata_core::Scope::ConnectionsWrite])
        .await;
    let theirs = send(&app, "create-1", "/api/connections", Some(&body), &globex).await;
    assert_eq!(theirs.0, 201);
    assert_ne!(theirs.3["data"]["id"], first.3["data"]["id"]);

    // A failed answer is not kept: the retry runs again.
    let bad = json!({"name": "bad", "type": "postgresql", "configuration": {"url": "mysql://x"}});
    assert_eq!(
        send(&app, "create-2", "/api/connections", Some(&bad), key)
            .await
            .0,
        400
    );
    let good = json!({"name": "bad", "type": "postgresql", "configuration": {"url": source.url()}});
    assert_eq!(
        send(&app, "create-2", "/api/connections", Some(&good), key)
            .await
            .0,
        201
    );
    for bad_key in ["", &"k".repeat(256), "with space"] {
        let response = app
            .client
            .post(app.url("/api/connections"))
            .bearer_auth(key)
            .header("Idempotency-Key", bad_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad_key:?}");
    }
}

#[tokio::test]
async fn a_retried_refresh_gets_the_same_job_until_the_key_expires() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    let path = format!("/api/connections/{id}/schemas/refresh");
    let key = &app.api_key;
    let first = send(&app, "refresh-1", &path, None, key).await;
    assert_eq!(first.0, 202);
    assert_eq!(
        first.1.as_deref(),
        Some(format!("/api/connections/{id}/schemas/status").as_str())
    );
    app.wait_for_refresh(&id).await;
    // The run is over, yet the retry is the same answer, not a second run.
    let retry = send(&app, "refresh-1", &path, None, key).await;
    assert_eq!((retry.0, &retry.1, retry.2), (202, &first.1, true));
    assert_eq!(retry.3["data"]["job_id"], first.3["data"]["job_id"]);
    let soft = send(
        &app,
        "refresh-1",
        &format!("{path}?hard_refresh=false"),
        None,
        key,
    )
    .await;
    assert_eq!(soft.0, 422, "other options are another request");

    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let later = send(&app, "refresh-1", &path, None, key).await;
    assert_eq!(later.0, 202);
    assert!(!later.2);
    assert_ne!(later.3["data"]["job_id"], first.3["data"]["job_id"]);
    app.wait_for_refresh(&id).await;
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        schemata_store::idempotency::prune(&app.pool).await.unwrap(),
        1
    );
    worker.stop().await;
}
