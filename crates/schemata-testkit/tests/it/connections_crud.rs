//! Creating, listing, reading, updating and deleting connections.

use schemata_testkit::{TestApp, fresh_database};
use serde_json::{Value, json};

#[tokio::test]
async fn credentials_are_encrypted_at_rest_and_never_returned() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/connections",
            &json!({"name": "warehouse", "type": "postgresql",
                    "configuration": {"host": "db.internal", "port": 6543, "database": "app", "user": "reader",
                                      "password": "s3cr3t-pa55", "sslmode": "require"},
                    "schema_filter": ["public", "sales"], "table_allowlist": ["public.users"],
                    "refresh_ttl_seconds": 900, "auto_refresh": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let text = created.text().await.unwrap();
    assert!(!text.contains("s3cr3t-pa55"));
    let body: Value = serde_json::from_str(&text).unwrap();
    let connection = &body["data"];
    assert_eq!(connection["configuration"]["password"], "********");
    assert_eq!(connection["configuration"]["host"], "db.internal");
    assert_eq!(connection["type"], "postgresql");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["health_status"], "unknown");
    assert_eq!(connection["schema_filter"], json!(["public", "sales"]));
    assert_eq!(connection["table_allowlist"], json!(["public.users"]));
    assert_eq!(connection["refresh_ttl_seconds"], 900);
    assert_eq!(connection["auto_refresh"], true);
    assert!(connection["created_at"].as_str().unwrap().ends_with('Z'));

    let (configuration, secret): (Value, Vec<u8>) =
        sqlx::query_as("SELECT configuration, secret FROM connections")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!configuration.to_string().contains("s3cr3t"));
    assert!(!String::from_utf8_lossy(&secret).contains("s3cr3t"));
    assert!(
        !String::from_utf8_lossy(&secret).contains("db.internal"),
        "the whole configuration is sealed"
    );

    let id = connection["id"].as_str().unwrap();
    let listed = app.get("/api/connections").await.text().await.unwrap();
    assert!(!listed.contains("s3cr3t"));
    let got = app
        .get(&format!("/api/connections/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!got.contains("s3cr3t"));
}

#[tokio::test]
async fn connections_are_listed_with_cursors_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let database = fresh_database("src").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create_connection(&format!("c{n}"), &database).await);
    }
    let page: Value = app
        .get("/api/connections?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app
            .get(&format!("/api/connections?limit=2&cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["pagination"]["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every connection once, in creation order");

    let duplicate = app
        .post(
            "/api/connections",
            &json!({"name": "c0", "type": "postgresql", "configuration": {"url": database.url()}}),
        )
        .await;
    assert_eq!(duplicate.status(), 409);

    let id = &ids[0];
    let patch = |body: Value| {
        let app = &app;
        async move {
            app.send(
                app.client
                    .patch(app.url(&format!("/api/connections/{id}")))
                    .bearer_auth(&app.api_key)
                    .json(&body),
            )
            .await
            .unwrap()
        }
    };
    let updated =
        patch(json!({"name": "renamed", "status": "disabled", "refresh_ttl_seconds": null})).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["data"]["name"], "renamed");
    assert_eq!(updated["data"]["status"], "disabled");
    assert_eq!(updated["data"]["refresh_ttl_seconds"], Value::Null);
    assert_eq!(patch(json!({"type": "mysql"})).await.status(), 400);
    assert_eq!(patch(json!({"status": "paused"})).await.status(), 400);
    assert_eq!(patch(json!({"colour": "red"})).await.status(), 400);
    assert_eq!(patch(json!({"name": "c1"})).await.status(), 409);

    // A disabled connection is skipped, with no job.
    let skipped = app.request_refresh(id).await;
    assert_eq!(skipped.status(), 200);
    let skipped: Value = skipped.json().await.unwrap();
    assert_eq!(skipped["data"]["skipped"], true);
    assert_eq!(
        skipped["data"]["message"],
        "Connection is disabled. Enable it before refreshing."
    );
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(runs, 0);

    // Sending the redacted password back keeps the stored one working.
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let kept =
        patch(json!({"status": "active", "configuration": shown["data"]["configuration"]})).await;
    assert_eq!(kept.status(), 200);
    let health: Value = app.check_health(id).await;
    assert_eq!(health["health"], "healthy");

    let deleted = app.delete(&format!("/api/connections/{id}")).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.get(&format!("/api/connections/{id}")).await.status(),
        404
    );
    let again = app.delete(&format!("/api/connections/{id}")).await;
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn deleting_a_connection_removes_its_cache() {
    let app = TestApp::spawn().await;
    let source = schemata_testkit::source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("c", &source).await;
    let worker = app.spawn_worker();
    app.request_refresh(&id).await;
    app.wait_for_refresh(&id).await;
    worker.stop().await;
    let cached: i64 = sqlx::query_scalar("SELECT sum(field_count) FROM schema_objects")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cached, 1);
    app.delete(&format!("/api/connections/{id}")).await;
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM schema_objects), (SELECT count(*) FROM refresh_runs)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(left, (0, 0));
}

#[tokio::test]
async fn credentials_sealed_under_another_key_are_reported_and_can_be_replaced() {
    let app = TestApp::spawn().await;
    let database = fresh_database("src").await;
    let id = app.create_connection("rotated", &database).await;
    // As after a key rotation: the stored secret was sealed with a key we no longer have.
    let other_key =
        schemata_store::SecretBox::from_hex(&schemata_store::SecretBox::generate_key_hex())
            .unwrap();
    let uuid: uuid::Uuid = id.parse().unwrap();
    sqlx::query("UPDATE connections SET secret = $2 WHERE id = $1")
        .bind(uuid)
        .bind(other_key.seal(b"{\"url\": \"postgres://x@h/d\"}", uuid.as_bytes()))
        .execute(&app.pool)
        .await
        .unwrap();

    for response in [
        app.post_empty(&format!("/api/connections/{id}/test")).await,
        app.request_refresh(&id).await,
    ] {
        assert_eq!(response.status(), 409);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "credentials_unreadable");
    }
    assert_eq!(app.runs_and_jobs().await, (0, 0));

    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/connections/{id}")))
            .bearer_auth(&app.api_key)
            .json(&body)
    };
    let without_configuration = patch(json!({"name": "renamed"})).send().await.unwrap();
    assert_eq!(without_configuration.status(), 409);
    let repaired = patch(json!({"configuration": {"url": database.url()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(repaired.status(), 200);
    let health: Value = app.check_health(&id).await;
    assert_eq!(health["health"], "healthy");
}
