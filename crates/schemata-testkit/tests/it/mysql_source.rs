//! MariaDB sources: sakila cached exactly as information_schema describes it,
//! privileges, broken views, filters.

use schemata_testkit::{TestApp, fixture, mysql_database, mysql_dump_database};
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};
use std::collections::BTreeMap;

async fn refreshed(app: &TestApp, id: &str) -> Value {
    let response = app.request_refresh(id).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    app.wait_for_refresh(id).await
}

async fn object(app: &TestApp, id: &str, schema_id: &str) -> Value {
    let response = app
        .get(&format!("/api/connections/{id}/schemas/{schema_id}"))
        .await;
    assert_eq!(response.status(), 200, "GET {schema_id}");
    response.json::<Value>().await.unwrap()["data"].clone()
}

#[tokio::test]
async fn sakila_on_mariadb_is_cached_exactly_as_information_schema_says() {
    let app = TestApp::spawn().await;
    let source = mysql_dump_database(&fixture("sakila-schema.mysql.sql"), "sakila").await;
    source
        .execute(
            "ALTER TABLE film ADD COLUMN title_length int AS (char_length(title)) VIRTUAL;
             ALTER TABLE film COMMENT = 'Every film the stores rent';
             ALTER TABLE film MODIFY COLUMN description text COMMENT 'The blurb on the box';",
        )
        .await;
    let id = app
        .create_source("sakila", "mysql", json!({"url": source.url()}))
        .await;
    let worker = app.spawn_worker();
    let status = refreshed(&app, &id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_result"]["ok"], true, "{status}");

    let mut catalog = MySqlConnection::connect(source.url()).await.unwrap();
    let database = source.name();
    let expected_objects: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut catalog)
    .await
    .unwrap()
    .into_iter()
    .map(|(name, kind)| {
        let kind = if kind == "VIEW" { "view" } else { "table" };
        (format!("{database}.{name}"), kind.to_owned())
    })
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
    assert_eq!(cached, expected_objects);
    assert_eq!(cached.len(), 23, "16 tables and 7 views");

    let columns: Vec<(String, String, i64, String, String, String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, COLUMN_NAME, CAST(ORDINAL_POSITION AS SIGNED), IS_NULLABLE, COLUMN_TYPE, EXTRA,
                COLUMN_KEY
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut catalog)
    .await
    .unwrap();
    let mut expected_fields: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (table, column, ordinal, nullable, column_type, extra, _) in &columns {
        expected_fields.entry(format!("{database}.{table}")).or_default().push(json!({
            "name": column, "ordinal": ordinal, "nullable": nullable == "YES", "remote_type": column_type,
            "is_auto_increment": extra.contains("auto_increment"),
            "is_generated": extra.to_ascii_lowercase().contains("generated"),
        }));
    }
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX",
    )
    .bind(database)
    .fetch_all(&mut catalog)
    .await
    .unwrap();
    let links: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
         FROM information_schema.KEY_COLUMN_USAGE
         WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL",
    )
    .bind(database)
    .fetch_all(&mut catalog)
    .await
    .unwrap();
    let mut checked_fields = 0;
    for (schema_id, expected) in &expected_fields {
        let cached = object(&app, &id, schema_id).await;
        let fields = cached["fields"].as_array().unwrap();
        let got: Vec<Value> = fields
            .iter()
            .map(|f| {
                json!({
                    "name": f["name"], "ordinal": f["ordinal"], "nullable": f["nullable"],
                    "remote_type": f["remote_type"], "is_auto_increment": f["is_auto_increment"],
                    "is_generated": f["is_generated"],
                })
            })
            .collect();
        let mut expected = expected.clone();
        expected.sort_by_key(|f| f["ordinal"].as_i64());
        assert_eq!(got, expected, "fields of {schema_id}");
        let table = schema_id.split_once('.').unwrap().1;
        let primary: Vec<&str> = keys
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.as_str())
            .collect();
        assert_eq!(
            cached["primary_keys"],
            json!(primary),
            "primary key of {schema_id}"
        );
        for field in fields {
            let name = field["name"].as_str().unwrap();
            let link = links.iter().find(|(t, c, _, _)| t == table && c == name);
            let expected_link = link.map(|(_, _, target, column)| {
                json!({"schema_id": format!("{database}.{target}"), "field": column,
                       "reference_to": [format!("{database}.{target}")], "referenced_field": column})
            });
            assert_eq!(
                field["association"],
                expected_link.unwrap_or(Value::Null),
                "{schema_id}.{name}"
            );
        }
        checked_fields += fields.len();
    }
    assert_eq!(status["last_result"]["column_count"], checked_fields);

    let film = object(&app, &id, &format!("{database}.film")).await;
    let field = |name: &str| -> Value {
        film["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(film["comment"], "Every film the stores rent");
    assert_eq!(field("description")["comment"], "The blurb on the box");
    assert_eq!(
        field("film_id")["type"],
        "integer",
        "unsigned ints are integers"
    );
    assert_eq!(field("rental_rate")["type"], "number");
    assert_eq!(field("rating")["type"], "string");
    assert_eq!(
        field("rating")["enum_values"],
        json!(["G", "PG", "PG-13", "R", "NC-17"])
    );
    assert_eq!(
        field("special_features")["type"],
        "array",
        "a SET holds several values"
    );
    assert_eq!(field("last_update")["type"], "datetime");
    assert_eq!(field("title_length")["is_generated"], true);
    assert_eq!(
        field("title_length")["generation_expression"],
        "char_length(`title`)"
    );
    assert_eq!(film["properties"]["engine"], "InnoDB");
    let fks: Vec<&str> = film["foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(fks, ["fk_film_language", "fk_film_language_original"]);
}

#[tokio::test]
async fn a_table_the_account_cannot_read_and_a_broken_view_are_failures_not_a_failed_refresh() {
    let app = TestApp::spawn().await;
    let source = mysql_database(
        "CREATE TABLE customers (id int PRIMARY KEY, name text);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int, FOREIGN KEY (customer_id) REFERENCES customers (id));
         CREATE TABLE invoices (id int PRIMARY KEY, total decimal(10,2));
         CREATE TABLE scratch (id int);
         CREATE VIEW recent AS SELECT id FROM scratch;",
    )
    .await;
    let database = source.name().to_owned();
    let user = format!("r_{}", &database[database.len() - 10..]);
    source
        .execute(&format!(
            "DROP TABLE scratch;
             CREATE USER '{user}'@'%' IDENTIFIED BY 'reader-pw';
             GRANT SELECT ON `{database}`.customers TO '{user}'@'%';
             GRANT SELECT ON `{database}`.orders TO '{user}'@'%';
             GRANT SELECT ON `{database}`.recent TO '{user}'@'%';
             GRANT INSERT ON `{database}`.invoices TO '{user}'@'%';"
        ))
        .await;
    let id = app
        .create_source(
            "reader",
            "mysql",
            json!({"url": source.url_as(&user, "reader-pw")}),
        )
        .await;
    let worker = app.spawn_worker();
    let status = refreshed(&app, &id).await;
    worker.stop().await;
    source.execute(&format!("DROP USER '{user}'@'%'")).await;

    assert_eq!(
        status["cache_status"], "fresh",
        "partial failures keep the cache fresh"
    );
    let result = &status["last_result"];
    assert_eq!(result["ok"], false);
    assert_eq!(result["table_count"], 2);
    assert_eq!(result["failed_table_count"], 2);
    let failures: BTreeMap<String, String> = result["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["object"].as_str().unwrap().to_owned(),
                f["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        failures[&format!("{database}.invoices")],
        "permission denied"
    );
    assert!(
        failures[&format!("{database}.recent")].contains("no longer resolves"),
        "{failures:?}"
    );
    assert!(
        result["message"].as_str().unwrap().starts_with(&format!(
            "Refresh complete. 2 table(s) refreshed, 2 failed: {database}.invoices (permission denied)"
        )),
        "{result}"
    );
    let run: String = sqlx::query_scalar("SELECT status FROM refresh_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(run, "partial");
    let cached: Vec<String> = app
        .all_objects(&id)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        cached,
        [
            format!("{database}.customers"),
            format!("{database}.orders")
        ]
    );
}

#[tokio::test]
async fn schema_filter_and_allowlist_are_applied_in_the_catalog_queries() {
    let app = TestApp::spawn().await;
    let shop = mysql_database("CREATE TABLE orders (id int); CREATE TABLE refunds (id int);").await;
    let crm = mysql_database("CREATE TABLE contacts (id int);").await;
    let server = shop.server_url();
    let id = app
        .create_connection_with(&json!({"name": "both", "type": "mysql",
            "configuration": {"url": server},
            "schema_filter": [shop.name(), crm.name()],
            "table_allowlist": [format!("{}.orders", shop.name()), format!("{}.contacts", crm.name())]}))
        .await;
    let worker = app.spawn_worker();
    refreshed(&app, &id).await;
    worker.stop().await;
    let mut cached: Vec<String> = app
        .all_objects(&id)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    cached.sort();
    let mut expected = vec![
        format!("{}.orders", shop.name()),
        format!("{}.contacts", crm.name()),
    ];
    expected.sort();
    assert_eq!(cached, expected);
}

/// PostgreSQL text cannot hold a NUL, which a MySQL comment can: it arrives in
/// the cache as U+FFFD instead of failing every refresh of the connection.
#[tokio::test]
async fn a_nul_in_a_comment_is_replaced_and_the_refresh_succeeds() {
    let app = TestApp::spawn().await;
    let source = mysql_database(
        "CREATE TABLE notes (id int PRIMARY KEY COMMENT 'the\\0key') COMMENT 'tab\\0comment';",
    )
    .await;
    let id = app
        .create_source("nul", "mysql", json!({"url": source.url()}))
        .await;
    let worker = app.spawn_worker();
    let status = refreshed(&app, &id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    let notes = object(&app, &id, &format!("{}.notes", source.name())).await;
    // (MariaDB's information_schema hands back what follows a NUL as NULs.)
    for comment in [&notes["comment"], &notes["fields"][0]["comment"]] {
        let comment = comment.as_str().unwrap();
        assert!(
            comment.contains('\u{FFFD}') && !comment.contains('\0'),
            "{comment:?}"
        );
    }
}
