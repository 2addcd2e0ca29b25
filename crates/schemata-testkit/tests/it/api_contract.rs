//! The envelope, authentication, scopes and tenancy of shared/API.md.

use schemata_core::Scope;
use schemata_testkit::{TestApp, fresh_database};
use serde_json::{Value, json};

async fn assert_envelope(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    assert!(body["error"]["requestId"].is_string());
    body
}

#[tokio::test]
async fn another_organizations_connection_is_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("mine", &fresh_database("src").await)
        .await;
    let other = app.key_for("globex", &Scope::ALL).await;
    let routes = [
        ("GET", format!("/api/connections/{id}")),
        ("PATCH", format!("/api/connections/{id}")),
        ("DELETE", format!("/api/connections/{id}")),
        ("POST", format!("/api/connections/{id}/test")),
        ("POST", format!("/api/connections/{id}/schemas/refresh")),
        ("GET", format!("/api/connections/{id}/schemas/status")),
        ("GET", format!("/api/connections/{id}/schemas")),
        ("GET", format!("/api/connections/{id}/schemas/public.t")),
        (
            "GET",
            format!("/api/connections/{id}/schemas/public.t/records"),
        ),
    ];
    for (method, path) in routes {
        let request = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&other);
        let request = if method == "PATCH" {
            request.json(&json!({"name": "stolen"}))
        } else {
            request
        };
        let body = assert_envelope(request.send().await.unwrap(), 404, "not_found").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains(&id),
            "{method} {path}"
        );
    }
    let listed: Value = app
        .client
        .get(app.url("/api/connections"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    // Still there for its owner, untouched.
    let mine: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"]["name"], "mine");
}

#[tokio::test]
async fn a_key_without_the_scope_is_forbidden() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("mine", &fresh_database("src").await)
        .await;
    let read_only = app
        .key_for("acme", &[Scope::ConnectionsRead, Scope::SchemasRead])
        .await;
    let refresh = app
        .client
        .post(app.url(&format!("/api/connections/{id}/schemas/refresh")))
        .bearer_auth(&read_only)
        .send()
        .await
        .unwrap();
    let body = assert_envelope(refresh, 403, "forbidden").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("schemas:write")
    );
    let create = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&read_only)
        .json(&json!({"name": "x", "type": "postgresql", "configuration": {"url": "postgres://h/db"}}))
        .send()
        .await
        .unwrap();
    assert_envelope(create, 403, "forbidden").await;
    let schemas_only = app.key_for("acme", &[Scope::SchemasRead]).await;
    let get = app
        .client
        .get(app.url(&format!("/api/connections/{id}")))
        .bearer_auth(&schemas_only)
        .send()
        .await
        .unwrap();
    assert_envelope(get, 403, "forbidden").await;
    let status = app
        .client
        .get(app.url(&format!("/api/connections/{id}/schemas/status")))
        .bearer_auth(&schemas_only)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
}

#[tokio::test]
async fn missing_or_bad_keys_are_unauthorized() {
    let app = TestApp::spawn().await;
    let none = app
        .client
        .get(app.url("/api/connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_envelope(none, 401, "unauthorized").await;
    for key in ["sk_schemata_0000", "not-a-key", ""] {
        let bad = app
            .client
            .get(app.url("/api/connections"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_envelope(bad, 401, "unauthorized").await;
    }
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|hash| hash.len() == 32 && !String::from_utf8_lossy(hash).contains("sk_schemata_")));
}

#[tokio::test]
async fn bad_input_gets_an_envelope_never_a_bare_error() {
    let app = TestApp::spawn().await;
    let malformed = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_envelope(malformed, 400, "bad_request").await;
    let bad_uuid = app.get("/api/connections/not-a-uuid").await;
    assert_envelope(bad_uuid, 400, "bad_request").await;
    let bad_uuid_refresh = app.post_empty("/api/connections/42/schemas/refresh").await;
    assert_envelope(bad_uuid_refresh, 400, "bad_request").await;
    assert_envelope(app.get("/api/nothing/here").await, 404, "not_found").await;
    assert_envelope(
        app.send(app.client.get(app.url("/nope"))).await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let wrong_method = app
        .client
        .put(app.url("/api/connections"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_envelope(wrong_method, 405, "method_not_allowed").await;
    let huge = json!({"name": "x".repeat(300_000), "type": "postgresql", "configuration": {"url": "postgres://h/d"}});
    assert_envelope(
        app.post("/api/connections", &huge).await,
        413,
        "payload_too_large",
    )
    .await;
    let unknown_type =
        json!({"name": "x", "type": "oracle", "configuration": {"url": "postgres://h/d"}});
    let body = assert_envelope(
        app.post("/api/connections", &unknown_type).await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("oracle")
    );
    let typo = json!({"name": "x", "type": "postgresql", "configuration": {"url": "postgres://h/d"}, "schema_fliter": []});
    assert_envelope(
        app.post("/api/connections", &typo).await,
        400,
        "bad_request",
    )
    .await;
    let wrong_scheme =
        json!({"name": "x", "type": "postgresql", "configuration": {"url": "mysql://h/d"}});
    assert_envelope(
        app.post("/api/connections", &wrong_scheme).await,
        400,
        "bad_request",
    )
    .await;
    let missing = app
        .get(&format!("/api/connections/{}", uuid::Uuid::now_v7()))
        .await;
    assert_envelope(missing, 404, "not_found").await;

    let id = app
        .create_connection("c", &fresh_database("src").await)
        .await;
    let partial_hard = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?schemas=public"
        ))
        .await;
    assert_envelope(partial_hard, 400, "bad_request").await;
    let bad_flag = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hard_refresh=maybe"
        ))
        .await;
    assert_envelope(bad_flag, 400, "bad_request").await;
    let bad_age = app
        .post_empty(&format!("/api/connections/{id}/schemas/refresh?max_age=-1"))
        .await;
    assert_envelope(bad_age, 400, "bad_request").await;
    let bad_id = app
        .get(&format!("/api/connections/{id}/schemas/nodot"))
        .await;
    assert_envelope(bad_id, 400, "bad_request").await;
    let not_cached = app
        .get(&format!("/api/connections/{id}/schemas/public.nothing"))
        .await;
    assert_envelope(not_cached, 404, "not_found").await;
    let bad_limit = app.get("/api/connections?limit=500").await;
    assert_envelope(bad_limit, 400, "bad_request").await;
    let bad_cursor = app
        .get(&format!("/api/connections/{id}/schemas?cursor=zz"))
        .await;
    assert_envelope(bad_cursor, 400, "bad_request").await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-123");
    let failed = app
        .client
        .get(app.url("/api/connections"))
        .header("X-Request-Id", "trace-456")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.headers()["x-request-id"], "trace-456");
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["requestId"], "trace-456");
    let generated = app.send(app.client.get(app.url("/healthz"))).await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let ready = app.send(app.client.get(app.url("/readyz"))).await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn a_key_records_its_use_at_most_once_a_minute_and_a_revoked_key_is_refused() {
    let app = TestApp::spawn().await;
    let last_used = async || -> Option<chrono::DateTime<chrono::Utc>> {
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(last_used().await, None);
    assert_eq!(app.get("/api/connections").await.status(), 200);
    let first = last_used().await.expect("the first use is recorded");
    assert_eq!(app.get("/api/connections").await.status(), 200);
    assert_eq!(
        last_used().await,
        Some(first),
        "touched again within a minute"
    );
    sqlx::query("UPDATE api_keys SET last_used_at = now() - interval '2 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/api/connections").await.status(), 200);
    assert!(
        last_used().await.unwrap() > first,
        "a minute later it is recorded again"
    );
    sqlx::query("UPDATE api_keys SET revoked_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_envelope(app.get("/api/connections").await, 401, "unauthorized").await;
}

/// Keys are verified from memory for a few seconds (status polls would
/// otherwise cost a round trip each); a revoked key stops working when its
/// entry expires.
#[tokio::test]
async fn a_cached_key_is_trusted_for_its_ttl_and_a_revoked_one_leaves_within_it() {
    let app =
        TestApp::spawn_with(|s| s.api_key_cache_ttl = std::time::Duration::from_secs(3)).await;
    assert_eq!(app.get("/api/connections").await.status(), 200);
    sqlx::query("UPDATE api_keys SET revoked_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/connections").await.status(),
        200,
        "still cached: the database was not asked"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let response = app.get("/api/connections").await;
        if response.status() == 401 {
            assert_envelope(response, 401, "unauthorized").await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key kept working"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // An unknown key is never cached.
    let stranger = app
        .client
        .get(app.url("/api/connections"))
        .bearer_auth("sk_schemata_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
}
