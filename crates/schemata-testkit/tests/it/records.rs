//! Live samples of rows: awkward identifiers quoted safely, values as JSON,
//! read under the source's statement timeout.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use schemata_testkit::{TestApp, mysql_database, source_database};
use serde_json::{Value, json};

async fn records(app: &TestApp, id: &str, schema_id: &str, limit: u32) -> reqwest::Response {
    let encoded = utf8_percent_encode(schema_id, NON_ALPHANUMERIC);
    app.get(&format!(
        "/api/connections/{id}/schemas/{encoded}/records?limit={limit}"
    ))
    .await
}

async fn refreshed(app: &TestApp, id: &str) {
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(id).await.status(), 202);
    let status = app.wait_for_refresh(id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
}

#[tokio::test]
async fn postgres_rows_with_awkward_names_come_back_as_json() {
    let app = TestApp::spawn().await;
    let source = source_database(
        r#"CREATE SCHEMA "sch ema";
           CREATE TABLE "sch ema"."we""ird.ta ble`ü" (
               "id" int PRIMARY KEY, "sp ace" text, "dot.ted" numeric(10,2), "when" date,
               at timestamptz, raw bytea, doc jsonb, tags text[], ok bool, nothing text, big numeric(40,10),
               -- Named like the usual row alias, and like ours: the whole row still comes back.
               t time, schemata_row int);
           INSERT INTO "sch ema"."we""ird.ta ble`ü" VALUES
               (1, 'a', 12.50, '2024-02-29', '2024-03-01T10:00:00Z', '\x00ff10', '{"k": [1, 2]}', '{x,y}', true, NULL,
                123456789012345678901234567890.1234567890, '12:30', 7),
               (2, 'b', 0.01, '1999-12-31', '2000-01-01T00:00:00Z', '', '[]', '{}', false, NULL, 2.5, NULL, NULL);"#,
    )
    .await;
    let id = app.create_connection("awkward", &source).await;
    refreshed(&app, &id).await;
    // The name holds a dot and a quote: quoted, the quote doubled.
    let schema_id = "sch ema.\"we\"\"ird.ta ble`ü\"";
    let response = records(&app, &id, schema_id, 10).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let rows: Value = response.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!(
        rows[0],
        json!({"id": 1, "sp ace": "a", "dot.ted": 12.50, "when": "2024-02-29",
               "at": "2024-03-01T10:00:00+00:00", "raw": "AP8Q", "doc": {"k": [1, 2]},
               "tags": ["x", "y"], "ok": true, "nothing": null,
               // More digits than a JSON number carries exactly: the exact decimal, as a string.
               "big": "123456789012345678901234567890.1234567890", "t": "12:30:00",
               "schemata_row": 7})
    );
    assert_eq!(rows[1]["big"], json!(2.5));
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let one: Value = records(&app, &id, schema_id, 1).await.json().await.unwrap();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    for limit in [0, 101] {
        assert_eq!(records(&app, &id, schema_id, limit).await.status(), 400);
    }
    assert_eq!(
        records(&app, &id, "public.not_cached", 5).await.status(),
        404
    );
}

#[tokio::test]
async fn a_sample_that_runs_past_the_statement_timeout_is_cut_off() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE VIEW slow AS SELECT 1 AS s FROM pg_sleep(30);").await;
    let id = app
        .create_connection("slow", &format!("{}?statement_timeout=500", source.url()))
        .await;
    refreshed(&app, &id).await;
    let started = std::time::Instant::now();
    let response = records(&app, &id, "public.slow", 1).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "source_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("statement timeout"),
        "{body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "not the full sleep"
    );
}

#[tokio::test]
async fn mariadb_rows_with_awkward_names_come_back_as_json() {
    let app = TestApp::spawn().await;
    let source = mysql_database(
        "CREATE TABLE `we\"ird.ta ble``ü` (
             id int PRIMARY KEY, `sp ace` varchar(10), amount decimal(10,2), day date, at datetime,
             raw blob, flag bit(1), size enum('s','m','l'), note text, big decimal(40,10),
             ok tinyint(1), sizes set('s','m','l'), stamped timestamp(3) NULL);
         INSERT INTO `we\"ird.ta ble``ü` VALUES
             (1, 'a', 12.50, '2024-02-29', '2024-03-01 10:00:00', x'00ff10', b'1', 'm', NULL,
              123456789012345678901234567890.1234567890, 1, 's,l', '2024-03-01 10:00:00.125');",
    )
    .await;
    let id = app
        .create_source("awkward", "mysql", json!({"url": source.url()}))
        .await;
    refreshed(&app, &id).await;
    let schema_id = format!("{}.\"we\"\"ird.ta ble`ü\"", source.name());
    let response = records(&app, &id, &schema_id, 5).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let rows: Value = response.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!(
        rows,
        json!([{"id": 1, "sp ace": "a", "amount": 12.50, "day": "2024-02-29",
                "at": "2024-03-01T10:00:00", "raw": "AP8Q", "flag": true, "size": "m", "note": null,
                "big": "123456789012345678901234567890.1234567890", "ok": true,
                "sizes": ["s", "l"], "stamped": "2024-03-01T10:00:00.125Z"}])
    );
}

#[tokio::test]
async fn a_mariadb_sample_past_its_statement_timeout_is_cut_off() {
    let app = TestApp::spawn().await;
    let source = mysql_database("CREATE VIEW slow AS SELECT SLEEP(30) AS s;").await;
    let id = app
        .create_source(
            "slow",
            "mysql",
            json!({"url": format!("{}?statement_timeout=500", source.url())}),
        )
        .await;
    refreshed(&app, &id).await;
    let started = std::time::Instant::now();
    let response = records(&app, &id, &format!("{}.slow", source.name()), 1).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    // MariaDB cuts SLEEP short and returns its row, or fails the statement:
    // either way the answer comes long before the 30 s the view asks for.
    assert!(status == 200 || status == 502, "{status} {body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn sqlite_rows_come_back_as_json() {
    let app = TestApp::spawn().await;
    let file = app
        .sqlite_file(
            "rows.db",
            r#"CREATE TABLE "we""ird" (id INTEGER PRIMARY KEY, price REAL, raw BLOB, doc JSON, note TEXT);
               INSERT INTO "we""ird" VALUES (1, 2.5, x'00ff10', '{"a": 1}', NULL);"#,
        )
        .await;
    let id = app
        .create_source("rows", "sqlite", json!({"path": file}))
        .await;
    refreshed(&app, &id).await;
    let response = records(&app, &id, "main.\"we\"\"ird\"", 5).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let rows: Value = response.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!(
        rows,
        json!([{"id": 1, "price": 2.5, "raw": "AP8Q", "doc": {"a": 1}, "note": null}])
    );
    // Disabled: Schemata leaves the source alone, samples included.
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let refused = records(&app, &id, "main.\"we\"\"ird\"", 5).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
}

/// A source's huge values stay on the source: a 20 MB comment is cut in the
/// catalog query, and a sampled row of 20 MB is measured there and never sent.
#[tokio::test]
async fn huge_comments_are_cut_and_huge_rows_are_never_sent() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE wide (id int PRIMARY KEY);
         DO $$ BEGIN EXECUTE format('COMMENT ON TABLE wide IS %L', repeat('c', 20000000)); END $$;
         CREATE VIEW huge AS SELECT 1 AS id, repeat('x', 20000000) AS v;",
    )
    .await;
    let id = app.create_connection("huge", &source).await;
    refreshed(&app, &id).await;
    let wide: Value = app
        .get(&format!("/api/connections/{id}/schemas/public.wide"))
        .await
        .json()
        .await
        .unwrap();
    let comment = wide["data"]["comment"].as_str().unwrap();
    assert_eq!(comment.chars().count(), schemata_core::object::MAX_TEXT);
    assert!(comment.ends_with('…'));
    let response = records(&app, &id, "public.huge", 1).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "source_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a row of the sample is 19 MiB"),
        "{body}"
    );
}

/// A SQLite query runs on a thread of its own, which a client-side timeout
/// does not stop: a sample of a view that never ends must be interrupted,
/// not left holding the file (and a core) after the request gave up.
#[tokio::test]
async fn a_runaway_sqlite_sample_is_interrupted_when_its_request_gives_up() {
    let app = TestApp::spawn_with(|settings| {
        settings.sources.limits.statement_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let file = app
        .sqlite_file(
            "forever.db",
            "CREATE TABLE t (id INTEGER PRIMARY KEY);
             CREATE VIEW forever AS
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
                 SELECT count(*) AS c FROM n;",
        )
        .await;
    let id = app
        .create_source("forever", "sqlite", json!({"path": file}))
        .await;
    refreshed(&app, &id).await;
    let response = records(&app, &id, "main.forever", 1).await;
    assert_eq!(response.status(), 502, "{}", response.text().await.unwrap());
    // While the query ran it held the file's shared lock; interrupted, it let
    // go, and a writer gets the file to itself.
    use sqlx::{ConnectOptions, Connection};
    let mut writer = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(app.sqlite_root.join(&file))
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE; INSERT INTO t VALUES (1); COMMIT")
        .execute(&mut writer)
        .await
        .expect("the runaway query still holds the file");
    writer.close().await.unwrap();
}
