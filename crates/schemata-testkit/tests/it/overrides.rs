//! User fields, field overrides and primary key overrides: validated, served
//! in the effective view, kept through hard and soft refreshes of a source that
//! changes under them, flagged when it does, and part of the schema version.

use reqwest::Response;
use schemata_testkit::{TestApp, load, source_database};
use serde_json::{Value, json};

async fn body(response: Response, status: u16) -> Value {
    let code = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(code, status, "{body}");
    body
}

async fn refreshed(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .post_empty(&format!("/api/connections/{id}/schemas/refresh{query}"))
        .await;
    body(response, 202).await;
    let status = app.wait_for_refresh(id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    status
}

fn field<'a>(object: &'a Value, id: &str) -> &'a Value {
    object["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no field {id} in {object}"))
}

async fn put(app: &TestApp, path: &str, json: &Value) -> Response {
    app.send(
        app.client
            .put(app.url(path))
            .bearer_auth(&app.api_key)
            .json(json),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn overrides_survive_every_refresh_and_are_flagged_when_the_source_moves_under_them() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE users (id int PRIMARY KEY, email text, age int, legacy text);",
    )
    .await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    refreshed(&app, &id, "").await;
    let object = format!("/api/connections/{id}/schemas/public.users");

    // Overrides of detected fields.
    let email = body(
        app.patch(
            &format!("{object}/fields/email"),
            &json!({"label": "E-mail", "type": "object"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(email["data"]["label"], "E-mail");
    assert_eq!(email["data"]["type"], "json", "Polytomic's object is json");
    assert_eq!(email["data"]["remote_type"], "text");
    assert_eq!(email["data"]["user_managed"], true);
    for (field, patch) in [
        ("age", json!({"type": "string"})),
        ("legacy", json!({"label": "Old"})),
    ] {
        body(
            app.patch(&format!("{object}/fields/{field}"), &patch).await,
            200,
        )
        .await;
    }
    // User fields, in our shape and in Polytomic's.
    let upserted = body(
        app.post(
            &format!("{object}/fields"),
            &json!({"fields": [
                {"name": "full_name", "type": "string", "label": "Full name"},
                {"field_id": "score", "label": "Score", "type": "object", "path": "$.score", "example": {"a": 1}},
            ]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(field(&upserted["data"], "score")["type"], "json");
    assert_eq!(field(&upserted["data"], "score")["path"], "$.score");
    assert_eq!(field(&upserted["data"], "full_name")["label"], "Full name");
    // Primary key override, in Polytomic's shape.
    let keyed = body(
        put(
            &app,
            &format!("{object}/primary_keys"),
            &json!({"fields": [{"field_id": "email", "is_primary_key": true}, {"field_id": "id", "is_primary_key": false}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(keyed["data"]["primary_keys"], json!(["email"]));
    assert_eq!(keyed["data"]["detected_primary_keys"], json!(["id"]));
    assert_eq!(field(&keyed["data"], "id")["source_primary_key"], true);
    assert_eq!(field(&keyed["data"], "id")["primary_key_override"], false);
    assert_eq!(field(&keyed["data"], "email")["is_primary_key"], true);

    // The source changes under the overrides: one field goes, one changes type.
    load(
        &source,
        "ALTER TABLE users DROP COLUMN legacy; ALTER TABLE users ALTER COLUMN age TYPE bigint;
         ALTER TABLE users ADD COLUMN extra text;",
    )
    .await;
    for query in [
        "",
        "?hard_refresh=false",
        "?hard_refresh=false&tables=public.users",
    ] {
        refreshed(&app, &id, query).await;
        let view = body(app.get(&object).await, 200).await["data"].clone();
        assert_eq!(field(&view, "email")["label"], "E-mail", "{query}");
        assert_eq!(field(&view, "email")["conflict"], Value::Null);
        assert_eq!(field(&view, "age")["conflict"], "source_type_changed");
        assert_eq!(field(&view, "age")["remote_type"], "bigint");
        assert_eq!(field(&view, "age")["type"], "string", "the override stays");
        assert_eq!(field(&view, "legacy")["conflict"], "source_field_removed");
        assert_eq!(field(&view, "legacy")["label"], "Old");
        assert_eq!(field(&view, "extra")["user_managed"], false);
        assert_eq!(field(&view, "score")["user_managed"], true);
        assert_eq!(view["primary_keys"], json!(["email"]));
        assert_eq!(
            view["field_count"], 7,
            "4 detected, the orphaned override of legacy, 2 user fields: {view}"
        );
    }
    // A retyped field can still be a key; an orphaned override's id is not
    // free for a user field.
    let keyed = body(
        put(
            &app,
            &format!("{object}/primary_keys"),
            &json!({"fields": ["age"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(keyed["data"]["primary_key_conflict"], Value::Null);
    let orphan = body(
        app.post(
            &format!("{object}/fields"),
            &json!({"fields": [{"field_id": "legacy", "type": "string"}]}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        orphan["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the override of a field the source no longer has")
    );
    body(
        put(
            &app,
            &format!("{object}/primary_keys"),
            &json!({"fields": ["email"]}),
        )
        .await,
        200,
    )
    .await;
    // Overriding again acknowledges the new type.
    let age = body(
        app.patch(&format!("{object}/fields/age"), &json!({"label": "Age"}))
            .await,
        200,
    )
    .await;
    assert_eq!(age["data"]["conflict"], Value::Null);
    assert_eq!(age["data"]["type"], "string");

    // Removing an override shows the detected values again.
    assert_eq!(
        app.delete(&format!("{object}/fields/email")).await.status(),
        204
    );
    let view = body(app.get(&object).await, 200).await["data"].clone();
    assert_eq!(field(&view, "email")["type"], "string");
    assert_eq!(field(&view, "email")["label"], Value::Null);
    assert_eq!(field(&view, "email")["user_managed"], false);
    assert_eq!(
        view["primary_keys"],
        json!(["email"]),
        "the key override is separate"
    );
    let reset = body(app.delete(&format!("{object}/primary_keys")).await, 200).await;
    assert_eq!(reset["data"]["primary_keys"], json!(["id"]));
    assert_eq!(
        field(&reset["data"], "id")["primary_key_override"],
        Value::Null
    );
    worker.stop().await;
}

#[tokio::test]
async fn bad_overrides_get_clear_errors_in_the_envelope() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY, name text);").await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    refreshed(&app, &id, "").await;
    worker.stop().await;
    let object = format!("/api/connections/{id}/schemas/public.t");
    let cases: Vec<(Response, u16, &str)> = vec![
        (
            app.post(
                &format!("{object}/fields"),
                &json!({"fields": [{"name": "x", "type": "varchar"}]}),
            )
            .await,
            400,
            "unknown type `varchar`",
        ),
        (
            app.post(
                &format!("{object}/fields"),
                &json!({"fields": [{"name": "id", "type": "string"}]}),
            )
            .await,
            400,
            "`id` is a detected field",
        ),
        (
            app.post(
                &format!("{object}/fields"),
                &json!({"fields": [{"type": "string"}]}),
            )
            .await,
            400,
            "`field_id` or a `name`",
        ),
        (
            app.post(
                &format!("{object}/fields"),
                &json!({"fields": [
                {"name": "x", "type": "string"}, {"field_id": "x", "type": "number"}]}),
            )
            .await,
            400,
            "appears twice",
        ),
        (
            app.post(&format!("{object}/fields"), &json!({"fields": []}))
                .await,
            400,
            "1 to 500",
        ),
        (
            app.post(
                &format!("{object}/fields"),
                &json!({"fields": [
                {"name": "x", "type": "string", "example": "e".repeat(17 * 1024)}]}),
            )
            .await,
            400,
            "`example` is larger than 16384 bytes",
        ),
        (
            app.post(
                &format!("/api/connections/{id}/schemas/public.nope/fields"),
                &json!({"fields": [{"name": "x", "type": "string"}]}),
            )
            .await,
            404,
            "Object not found",
        ),
        (
            app.patch(&format!("{object}/fields/nope"), &json!({"label": "x"}))
                .await,
            404,
            "Field not found on public.t: nope",
        ),
        (
            app.patch(&format!("{object}/fields/name"), &json!({"colour": "red"}))
                .await,
            400,
            "Unknown field `colour`",
        ),
        (
            app.patch(&format!("{object}/fields/name"), &json!({"label": 7}))
                .await,
            400,
            "must be a string or null",
        ),
        (
            app.delete(&format!("{object}/fields/name")).await,
            409,
            "cannot be deleted",
        ),
        (
            put(
                &app,
                &format!("{object}/primary_keys"),
                &json!({"fields": ["nope"]}),
            )
            .await,
            400,
            "`nope` is not a field of public.t",
        ),
        (
            put(
                &app,
                &format!("{object}/primary_keys"),
                &json!({"fields": ["id", "id"]}),
            )
            .await,
            400,
            "appears twice",
        ),
    ];
    for (response, status, message) in cases {
        let body = body(response, status).await;
        assert_eq!(body["success"], false);
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text} should say {message}");
        assert!(body["error"]["code"].is_string() && body["error"]["requestId"].is_string());
    }
    // Nothing half-applied: the failed batches wrote nothing.
    let view = body(app.get(&object).await, 200).await;
    assert_eq!(view["data"]["fields"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_schema_version_is_the_content_overrides_included() {
    let app = TestApp::spawn().await;
    let ddl = "CREATE TABLE t (id int PRIMARY KEY, name text);";
    let (one, two) = (source_database(ddl).await, source_database(ddl).await);
    let first = app.create_connection("one", &one).await;
    let second = app.create_connection("two", &two).await;
    let worker = app.spawn_worker();
    let v1 = refreshed(&app, &first, "").await["schema_version"].clone();
    assert!(v1.as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        refreshed(&app, &second, "").await["schema_version"],
        v1,
        "equal content, equal version, whichever connection and run"
    );
    assert_eq!(refreshed(&app, &first, "").await["schema_version"], v1);

    let list = format!("/api/connections/{first}/schemas");
    let object = format!("{list}/public.t");
    for path in [&list, &object] {
        let response = app.get(path).await;
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", v1.as_str().unwrap()));
        let cached = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.api_key)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304, "{path}");
    }
    body(
        app.patch(&format!("{object}/fields/name"), &json!({"label": "Name"}))
            .await,
        200,
    )
    .await;
    let v2 = app.status(&first).await["schema_version"].clone();
    assert_ne!(v2, v1, "an override is part of the effective schema");
    let etag = app.get(&object).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, format!("\"{}\"", v2.as_str().unwrap()));
    assert_eq!(
        refreshed(&app, &first, "").await["schema_version"],
        v2,
        "a refresh that finds nothing new keeps it"
    );
    assert_eq!(
        app.delete(&format!("{object}/fields/name")).await.status(),
        204
    );
    assert_eq!(app.status(&first).await["schema_version"], v1);
    // A 304 is only for an object that exists.
    let missing = app
        .client
        .get(app.url(&format!("{list}/public.nope")))
        .bearer_auth(&app.api_key)
        .header("If-None-Match", format!("\"{}\"", v1.as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    load(&one, "ALTER TABLE t ADD COLUMN note text;").await;
    assert_ne!(refreshed(&app, &first, "").await["schema_version"], v1);
    worker.stop().await;
}
