//! Every answer the API gives to bad input: authentication first, then scopes,
//! then the input; NUL bytes, oversized heads, wrong media types and internal
//! failures all in the envelope, and never with internals in the message.

use schemata_core::Scope;
use schemata_testkit::{TestApp, fresh_database};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn envelope(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "{}", response.url());
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["requestId"].is_string(), "{body}");
    body
}

/// Sends raw bytes and returns the status code and the body of the answer.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, Value) {
    let socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut reader, mut writer) = socket.into_split();
    // Read while writing: the server answers before it has read an oversized head.
    let request = request.to_vec();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        // Keep the write half open: a client that stops sending is not done.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        writer
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(read) = reader.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    drop(writing);
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn nul_bytes_anywhere_are_a_400_never_a_500() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("c", &fresh_database("src").await)
        .await;
    let nul_cursor = hex_of("public\0a\0b");
    for path in [
        format!("/api/connections/{id}/schemas/public.us%00ers"),
        format!("/api/connections/{id}/schemas?schema=pub%00lic"),
        format!("/api/connections/{id}/schemas?cursor={nul_cursor}"),
        "/api/connections?cursor=%00".to_owned(),
    ] {
        envelope(app.get(&path).await, 400, "bad_request").await;
    }
    let refresh = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hard_refresh=false&schemas=a%00b"
        ))
        .await;
    envelope(refresh, 400, "bad_request").await;
    for body in [
        json!({"name": "a\u{0}b", "type": "postgresql", "configuration": {"url": "postgres://u@db/app"}}),
        json!({"name": "ok", "type": "postgresql", "configuration": {"url": "postgres://u@db/app"}, "schema_filter": ["pub\u{0}lic"]}),
        json!({"name": "ok", "type": "postgresql", "configuration": {"url": "postgres://u@db/app"}, "table_allowlist": ["public.a\u{0}"]}),
        json!({"name": "ok", "type": "postgresql", "configuration": {"host": "db", "user": "u\u{0}", "password": "p"}}),
        json!({"name": "ok", "type": "postgresql", "configuration": {"host": "db", "user": "u", "password": "p\u{0}"}}),
    ] {
        envelope(
            app.post("/api/connections", &body).await,
            400,
            "bad_request",
        )
        .await;
    }
    let patch = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"schema_filter": ["x\u{0}"]}),
        )
        .await;
    envelope(patch, 400, "bad_request").await;
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn errors_the_http_codec_answers_itself_carry_the_envelope() {
    let app = TestApp::spawn().await;
    let huge = format!(
        "GET /api/connections?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(200_000)
    );
    let (status, body) = raw(&app, huge.as_bytes()).await;
    assert_eq!(status, 431);
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], "request_header_fields_too_large");
    assert!(body["error"]["requestId"].is_string());
    let long_uri = format!(
        "GET /api/connections?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let (status, body) = raw(&app, long_uri.as_bytes()).await;
    assert_eq!(status, 431, "a URI over 64 KiB is too large too");
    assert_eq!(body["error"]["code"], "request_header_fields_too_large");
    let (status, body) = raw(&app, b"NOT HTTP AT ALL\r\n\r\n").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    // A head that never finishes: 408, with its body, once the server gives up.
    let (status, body) = raw(&app, b"GET /api/connections HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(status, 408);
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
}

#[tokio::test]
async fn a_bad_key_is_401_and_a_missing_scope_403_before_any_400() {
    let app = TestApp::spawn().await;
    let malformed = |key: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/connections"))
            .header("content-type", "application/json")
            .body("{\"name\": ");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    envelope(malformed(None).await.unwrap(), 401, "unauthorized").await;
    envelope(
        malformed(Some("sk_schemata_nope")).await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let anonymous_bad_path = app
        .client
        .get(app.url("/api/connections/not-a-uuid"))
        .send()
        .await
        .unwrap();
    envelope(anonymous_bad_path, 401, "unauthorized").await;

    let read_only = app.key_for("acme", &[Scope::ConnectionsRead]).await;
    envelope(malformed(Some(&read_only)).await.unwrap(), 403, "forbidden").await;
    let bad_everything = app
        .client
        .post(app.url("/api/connections/not-a-uuid/schemas/refresh?hard_refresh=maybe"))
        .bearer_auth(&read_only)
        .send()
        .await
        .unwrap();
    envelope(bad_everything, 403, "forbidden").await;
}

#[tokio::test]
async fn a_bad_query_or_body_is_a_400_before_an_unknown_connection_is_a_404() {
    let app = TestApp::spawn().await;
    let unknown = "0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10";
    let too_many = app
        .get(&format!(
            "/api/connections/{unknown}/schemas/public.x/records?limit=1000"
        ))
        .await;
    envelope(too_many, 400, "bad_request").await;

    // The body arrives late: the connection's 404 must not answer first.
    let body = b"{\"name\": ";
    let head = format!(
        "PATCH /api/connections/{unknown} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        key = app.api_key,
        length = body.len(),
    );
    let socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut reader, mut writer) = socket.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    writer.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    reader.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"bad_request\""), "{text}");

    // A well-formed request for someone else's id is still a 404.
    let patched = app
        .patch(
            &format!("/api/connections/{unknown}"),
            &json!({"name": "n"}),
        )
        .await;
    envelope(patched, 404, "not_found").await;
}

#[tokio::test]
async fn every_route_requires_exactly_its_scope() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("c", "postgres://u@db.example.com/app")
        .await;
    let missing = uuid::Uuid::now_v7();
    let routes: Vec<(&str, String, Scope, Option<Value>)> = vec![
        (
            "POST",
            "/api/connections".into(),
            Scope::ConnectionsWrite,
            Some(json!({"name": "n", "type": "oracle", "configuration": {}})),
        ),
        (
            "GET",
            "/api/connections".into(),
            Scope::ConnectionsRead,
            None,
        ),
        (
            "GET",
            format!("/api/connections/{id}"),
            Scope::ConnectionsRead,
            None,
        ),
        (
            "PATCH",
            format!("/api/connections/{id}"),
            Scope::ConnectionsWrite,
            Some(json!({"status": "nonsense"})),
        ),
        (
            "DELETE",
            format!("/api/connections/{missing}"),
            Scope::ConnectionsWrite,
            None,
        ),
        (
            "POST",
            format!("/api/connections/{missing}/test"),
            Scope::ConnectionsWrite,
            None,
        ),
        (
            "POST",
            format!("/api/connections/{missing}/schemas/refresh"),
            Scope::SchemasWrite,
            None,
        ),
        (
            "GET",
            format!("/api/connections/{id}/schemas/status"),
            Scope::SchemasRead,
            None,
        ),
        (
            "GET",
            format!("/api/connections/{id}/schemas"),
            Scope::SchemasRead,
            None,
        ),
        (
            "GET",
            format!("/api/connections/{id}/schemas/public.t"),
            Scope::SchemasRead,
            None,
        ),
        (
            "GET",
            format!("/api/connections/{id}/schemas/public.t/records"),
            Scope::SchemasRead,
            None,
        ),
    ];
    for scope in Scope::ALL {
        let key = app.key_for("acme", &[scope]).await;
        for (method, path, required, body) in &routes {
            let mut request = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .bearer_auth(&key);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            if scope == *required {
                assert!(
                    ![401, 403].contains(&status),
                    "{method} {path} with {scope}: {status}"
                );
            } else {
                envelope(response, 403, "forbidden").await;
            }
        }
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_not_ignored() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("c", "postgres://u@db.example.com/app")
        .await;
    let typo = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hardrefresh=false"
        ))
        .await;
    let body = envelope(typo, 400, "bad_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hardrefresh")
    );
    envelope(app.get("/api/connections?limt=5").await, 400, "bad_request").await;
    assert_eq!(app.runs_and_jobs().await, (0, 0));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&app.api_key)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    envelope(response, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_internal_error_is_a_500_that_says_nothing_of_the_internals() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection("c", "postgres://u@db.example.com/app")
        .await;
    sqlx::query("ALTER TABLE refresh_runs RENAME COLUMN result TO result_moved")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .get(&format!("/api/connections/{id}/schemas/status"))
        .await;
    let body = envelope(response, 500, "internal").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(message, "Internal server error.");
    let text = body.to_string();
    for internal in ["refresh_runs", "column", "result", "sqlx", "SELECT"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
}

#[tokio::test]
async fn successful_answers_carry_a_request_id_too() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/connections",
            &json!({"name": "c", "type": "postgresql", "configuration": {"url": "postgres://u@db.example.com/app"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert!(created.headers().contains_key("x-request-id"));
    let listed = app
        .client
        .get(app.url("/api/connections"))
        .bearer_auth(&app.api_key)
        .header("X-Request-Id", "trace-2xx")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["x-request-id"], "trace-2xx");
}

#[tokio::test]
async fn readiness_fails_on_a_database_missing_a_migration_in_the_api_and_the_worker() {
    let app = TestApp::spawn().await;
    let worker = app.spawn_worker();
    let ops = format!("http://127.0.0.1:{}", worker.ops_port);
    for url in [
        app.url("/readyz"),
        format!("{ops}/readyz"),
        format!("{ops}/healthz"),
    ] {
        assert_eq!(
            app.send(app.client.get(&url)).await.unwrap().status(),
            200,
            "{url}"
        );
    }
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let api_ready = app.send(app.client.get(app.url("/readyz"))).await.unwrap();
    envelope(api_ready, 503, "not_ready").await;
    let worker_ready = app
        .client
        .get(format!("{ops}/readyz"))
        .send()
        .await
        .unwrap();
    envelope(worker_ready, 503, "not_ready").await;
    let alive = app
        .client
        .get(format!("{ops}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        alive.status(),
        200,
        "liveness does not depend on the database"
    );
    assert_eq!(
        app.send(app.client.get(app.url("/healthz")))
            .await
            .unwrap()
            .status(),
        200
    );
    worker.stop().await;
}

/// Polytomic's clients send organization keys as Basic credentials (`curl -u
/// "$KEY:"`): the key as the user name, an empty password. Anything else in
/// Basic is the same 401 as a bad Bearer key.
#[tokio::test]
async fn a_key_sent_as_the_basic_user_name_is_accepted_and_nothing_else_in_basic() {
    let app = TestApp::spawn().await;
    let key = app.key_for("basic-org", &[Scope::ConnectionsRead]).await;
    let get = |user: String, password: Option<&'static str>| {
        app.client
            .get(app.url("/api/connections"))
            .basic_auth(user, password)
            .send()
    };
    let accepted = get(key.clone(), None).await.unwrap();
    assert_eq!(accepted.status(), 200);
    let accepted = get(key.clone(), Some("")).await.unwrap();
    assert_eq!(
        accepted.status(),
        200,
        "curl -u \"$KEY:\" sends an empty password"
    );
    for (user, password) in [
        (key.clone(), Some("not-empty")),
        ("someone".to_owned(), None),
        ("sk_schemata_nope".to_owned(), None),
    ] {
        envelope(get(user, password).await.unwrap(), 401, "unauthorized").await;
    }
}
