//! SQLite sources: sakila cached exactly as SQLite's own pragmas describe it,
//! files only under the SQLite root, never created, broken views isolated.

use schemata_testkit::{TestApp, fixture};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, sqlite::SqliteConnectOptions};
use std::collections::BTreeMap;

async fn refreshed(app: &TestApp, id: &str) -> Value {
    let response = app.request_refresh(id).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    app.wait_for_refresh(id).await
}

#[tokio::test]
async fn sakila_on_sqlite_is_cached_exactly_as_its_pragmas_say() {
    let app = TestApp::spawn().await;
    let file = app
        .sqlite_file("sakila.db", &fixture("sakila-schema.sqlite.sql"))
        .await;
    let id = app
        .create_source("sakila", "sqlite", json!({"path": file}))
        .await;
    let worker = app.spawn_worker();
    let status = refreshed(&app, &id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_result"]["ok"], true, "{status}");

    let mut catalog = SqliteConnectOptions::new()
        .filename(app.sqlite_root.join(&file))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let expected: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut catalog)
    .await
    .unwrap()
    .into_iter()
    .map(|(name, kind)| (format!("main.{name}"), kind))
    .collect();
    let cached: BTreeMap<String, String> = app
        .all_objects(&id)
        .await
        .into_iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(cached, expected);
    for schema_id in expected.keys() {
        let table = schema_id.strip_prefix("main.").unwrap();
        let columns: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT cid, name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(table)
        .fetch_all(&mut catalog)
        .await
        .unwrap();
        let object: Value = app
            .get(&format!("/api/connections/{id}/schemas/{schema_id}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["data"]
            .clone();
        let got: Vec<Value> = object["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!([f["ordinal"], f["name"], f["remote_type"], f["nullable"]]))
            .collect();
        let want: Vec<Value> = columns
            .iter()
            .map(|(cid, name, declared, notnull, pk)| {
                json!([cid + 1, name, declared, *notnull == 0 && *pk == 0])
            })
            .collect();
        assert_eq!(got, want, "fields of {schema_id}");
        let mut keys: Vec<(i64, String)> = columns
            .iter()
            .filter(|c| c.4 > 0)
            .map(|c| (c.4, c.1.clone()))
            .collect();
        keys.sort();
        let keys: Vec<String> = keys.into_iter().map(|(_, n)| n).collect();
        assert_eq!(
            object["primary_keys"],
            json!(keys),
            "primary key of {schema_id}"
        );
        let links: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?)")
                .bind(table)
                .fetch_all(&mut catalog)
                .await
                .unwrap();
        for (from, target, to) in links {
            let field = object["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == from.as_str())
                .unwrap();
            assert_eq!(
                field["association"]["schema_id"],
                format!("main.{target}"),
                "{schema_id}.{from}"
            );
            if let Some(to) = to {
                assert_eq!(field["association"]["field"], to.as_str());
            }
        }
    }
    catalog.close().await.unwrap();
}

#[tokio::test]
async fn without_rowid_generated_columns_and_a_broken_view() {
    let app = TestApp::spawn().await;
    let file = app
        .sqlite_file(
            "shop.db",
            "CREATE TABLE tags (name TEXT PRIMARY KEY, weight REAL) WITHOUT ROWID;
             CREATE TABLE items (id INTEGER PRIMARY KEY, price NUMERIC NOT NULL, qty INT DEFAULT 1,
                 total REAL GENERATED ALWAYS AS (price * qty) STORED, tag TEXT REFERENCES tags,
                 UNIQUE (tag, price));
             CREATE TABLE scratch (x);
             CREATE VIEW cheap AS SELECT id FROM items WHERE price < 1;
             CREATE VIEW stale AS SELECT x FROM scratch;
             DROP TABLE scratch;",
        )
        .await;
    let id = app
        .create_source("shop", "sqlite", json!({"url": format!("sqlite://{file}")}))
        .await;
    let worker = app.spawn_worker();
    let status = refreshed(&app, &id).await;
    worker.stop().await;
    assert_eq!(status["last_result"]["ok"], false);
    assert_eq!(status["last_result"]["failures"][0]["object"], "main.stale");
    let get = |name: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.get(&format!("/api/connections/{id}/schemas/main.{name}"))
                .await
                .json::<Value>()
                .await
                .unwrap()["data"]
                .clone()
        }
    };
    let tags = get("tags").await;
    assert_eq!(tags["properties"]["without_rowid"], true);
    let items = get("items").await;
    let field = |name: &str| {
        items["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        field("id")["is_auto_increment"],
        true,
        "INTEGER PRIMARY KEY is the rowid"
    );
    assert_eq!(field("id")["type"], "integer");
    assert_eq!(field("price")["type"], "number");
    assert_eq!(field("total")["is_generated"], true);
    assert_eq!(field("qty")["default"], "1");
    assert_eq!(
        field("tag")["association"],
        json!({"schema_id": "main.tags", "field": "name",
               "reference_to": ["main.tags"], "referenced_field": "name"})
    );
    assert_eq!(
        items["unique_constraints"][0]["columns"],
        json!(["tag", "price"])
    );
    assert_eq!(get("cheap").await["kind"], "view");
}

#[tokio::test]
async fn files_outside_the_root_are_refused_and_missing_files_are_never_created() {
    let app = TestApp::spawn().await;
    let outside =
        std::env::temp_dir().join(format!("schemata-outside-{}.db", uuid::Uuid::new_v4()));
    std::fs::write(&outside, b"").unwrap();
    std::os::unix::fs::symlink(&outside, app.sqlite_root.join("link.db")).unwrap();
    for path in [
        outside.to_str().unwrap(),
        "../escape.db",
        "link.db",
        "/etc/passwd",
    ] {
        let id = app
            .create_source(path, "sqlite", json!({"path": path}))
            .await;
        let refused = app.request_refresh(&id).await;
        assert_eq!(refused.status(), 409, "{path}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(
            body["error"]["message"], "Connection is unhealthy: refused by policy",
            "{path}"
        );
    }
    let id = app
        .create_source("missing", "sqlite", json!({"path": "missing.db"}))
        .await;
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{health}"
    );
    assert!(
        !app.sqlite_root.join("missing.db").exists(),
        "never created"
    );
    std::fs::write(app.sqlite_root.join("notes.txt"), "not a database").unwrap();
    let id = app
        .create_source("text", "sqlite", json!({"path": "notes.txt"}))
        .await;
    let health = app.check_health(&id).await;
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("not a database"),
        "{health}"
    );
    std::fs::remove_file(&outside).unwrap();
}
