//! The whole path: POST refresh → 202 + Location → poll → a cache equal to the source catalog.

use schemata_testkit::{TestApp, fixture, source_database};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// What the source's own catalog says about one field, read independently of the
/// worker's queries (information_schema where it can answer).
#[derive(Debug, PartialEq)]
struct ExpectedField {
    ordinal: i64,
    nullable: bool,
    remote_type: String,
}

#[tokio::test]
async fn refresh_of_pagila_caches_exactly_what_the_source_catalog_says() {
    let app = TestApp::spawn().await;
    let (connection_id, cached) = refresh_and_compare(&app, "pagila-schema.postgres.sql").await;
    assert_eq!(cached["public.payment"]["partition_count"], 7);
    // Spot checks of normalization against pagila's documented types.
    let film: Value = app
        .get(&format!(
            "/api/connections/{connection_id}/schemas/public.film"
        ))
        .await
        .json()
        .await
        .unwrap();
    let film_fields: BTreeMap<&str, &Value> = film["data"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f))
        .collect();
    assert_eq!(film_fields["film_id"]["type"], "integer");
    assert_eq!(film_fields["title"]["type"], "string");
    assert_eq!(film_fields["rental_rate"]["type"], "number");
    assert_eq!(film_fields["last_update"]["type"], "datetime");
    assert_eq!(film_fields["special_features"]["type"], "array");
    assert_eq!(film_fields["rating"]["type"], "string", "enums are strings");
    assert_eq!(
        film_fields["release_year"]["type"], "integer",
        "domains resolve to their base type"
    );
}

#[tokio::test]
async fn refresh_of_sakila_on_postgres_caches_exactly_what_the_source_catalog_says() {
    let app = TestApp::spawn().await;
    let (_, cached) = refresh_and_compare(&app, "sakila-schema.postgres.sql").await;
    assert!(cached.contains_key("public.film") && cached.contains_key("public.actor_info"));
}

/// Loads a fixture, refreshes it through the API and compares the cache with
/// the source's own catalog, object by object and field by field.
async fn refresh_and_compare(
    app: &TestApp,
    fixture_name: &str,
) -> (String, BTreeMap<String, Value>) {
    let source_url = source_database(&fixture(fixture_name)).await;
    let connection_id = app.create_connection("fixture", &source_url).await;
    let worker = app.spawn_worker();

    let started = Instant::now();
    let response = app.request_refresh(&connection_id).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/connections/{connection_id}/schemas/status")
    );
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["data"]["status"], "queued");
    assert_eq!(accepted["data"]["coalesced"], false);
    assert_eq!(accepted["data"]["connection_id"], connection_id.as_str());
    let job_id = accepted["data"]["job_id"].as_str().unwrap().to_owned();

    let status = app.wait_for_refresh(&connection_id).await;
    eprintln!(
        "{fixture_name} refresh, POST to fresh: {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_refresh_error"], Value::Null);
    assert!(
        status["last_refresh_finished"].as_str().unwrap()
            >= status["last_refresh_started"].as_str().unwrap()
    );
    assert!(
        status["schema_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let result = &status["last_result"];
    assert_eq!(result["job_id"], job_id.as_str());
    assert_eq!(result["ok"], true);

    let mut source = PgConnection::connect(&source_url).await.unwrap();
    let expected_objects = expected_objects(&mut source).await;
    let cached: BTreeMap<String, Value> = app
        .all_objects(&connection_id)
        .await
        .into_iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), o))
        .collect();
    let cached_kinds: BTreeMap<String, String> = cached
        .iter()
        .map(|(id, o)| (id.clone(), o["kind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(cached_kinds, expected_objects, "cached objects and kinds");
    assert!(
        !cached
            .keys()
            .any(|id| id.starts_with("pg_catalog.") || id.starts_with("information_schema."))
    );
    let tables = expected_objects
        .values()
        .filter(|k| !k.contains("view"))
        .count();
    let views = expected_objects.len() - tables;
    assert_eq!(result["table_count"], tables);
    assert_eq!(result["view_count"], views);

    let expected_fields = expected_fields(&mut source).await;
    let expected_keys = expected_primary_keys(&mut source).await;
    let expected_links = expected_associations(&mut source).await;
    let mut column_count = 0;
    for id in cached.keys() {
        let response = app
            .get(&format!("/api/connections/{connection_id}/schemas/{id}"))
            .await;
        assert_eq!(response.status(), 200, "GET {id}");
        let object: Value = response.json::<Value>().await.unwrap()["data"].clone();
        let fields = object["fields"].as_array().unwrap();
        column_count += fields.len();
        assert_eq!(object["field_count"], fields.len());
        let got: BTreeMap<String, ExpectedField> = fields
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_owned(),
                    ExpectedField {
                        ordinal: f["ordinal"].as_i64().unwrap(),
                        nullable: f["nullable"].as_bool().unwrap(),
                        remote_type: f["remote_type"].as_str().unwrap().to_owned(),
                    },
                )
            })
            .collect();
        assert_eq!(
            &got,
            expected_fields.get(id).unwrap_or(&BTreeMap::new()),
            "fields of {id}"
        );

        let keys: Vec<String> = serde_json::from_value(object["primary_keys"].clone()).unwrap();
        assert_eq!(
            keys,
            expected_keys.get(id).cloned().unwrap_or_default(),
            "primary key of {id}"
        );
        for field in fields {
            let name = field["name"].as_str().unwrap();
            assert_eq!(
                field["is_primary_key"],
                keys.iter().any(|k| k == name),
                "{id}.{name} is_primary_key"
            );
            let link = expected_links.get(&format!("{id}.{name}"));
            let association = &field["association"];
            match link {
                Some((target, target_field)) => {
                    assert_eq!(
                        association["schema_id"],
                        target.as_str(),
                        "{id}.{name} association"
                    );
                    assert_eq!(
                        association["field"],
                        target_field.as_str(),
                        "{id}.{name} association"
                    );
                }
                None => assert_eq!(association, &Value::Null, "{id}.{name} has no foreign key"),
            }
        }
    }
    assert_eq!(result["column_count"], column_count);
    worker.stop().await;
    (connection_id, cached)
}

#[tokio::test]
async fn schema_list_honours_its_etag_and_filters_by_schema() {
    let app = TestApp::spawn().await;
    let source_url = source_database(&fixture("pagila-schema.postgres.sql")).await;
    let connection_id = app.create_connection("pagila", &source_url).await;
    let worker = app.spawn_worker();
    app.request_refresh(&connection_id).await;
    let status = app.wait_for_refresh(&connection_id).await;

    let response = app
        .get(&format!("/api/connections/{connection_id}/schemas"))
        .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", status["schema_version"].as_str().unwrap())
    );
    let not_modified = app
        .client
        .get(app.url(&format!("/api/connections/{connection_id}/schemas")))
        .bearer_auth(&app.api_key)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let none: Value = app
        .get(&format!(
            "/api/connections/{connection_id}/schemas?schema=nope"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    let public: Value = app
        .get(&format!(
            "/api/connections/{connection_id}/schemas?schema=public&limit=200"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        public["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["schema"] == "public")
    );
    assert!(!public["data"].as_array().unwrap().is_empty());
    worker.stop().await;
}

/// Relations a user sees, by information_schema, plus materialized views and the
/// partitioned-table flag from the catalog (information_schema knows neither).
async fn expected_objects(source: &mut PgConnection) -> BTreeMap<String, String> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text, table_type::text FROM information_schema.tables
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut *source)
    .await
    .unwrap();
    let partitions: BTreeSet<String> = sqlx::query_scalar(
        "SELECT (c.relnamespace::regnamespace)::text || '.' || c.relname FROM pg_class c WHERE c.relispartition",
    )
    .fetch_all(&mut *source)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let partitioned: BTreeSet<String> =
        sqlx::query_scalar("SELECT (c.relnamespace::regnamespace)::text || '.' || c.relname FROM pg_class c WHERE c.relkind = 'p'")
            .fetch_all(&mut *source)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mut objects: BTreeMap<String, String> = rows
        .into_iter()
        .map(|(schema, name, kind)| (format!("{schema}.{name}"), kind))
        .filter(|(id, _)| !partitions.contains(id))
        .map(|(id, kind)| {
            let kind = match kind.as_str() {
                "VIEW" => "view",
                "FOREIGN" => "foreign_table",
                _ if partitioned.contains(&id) => "partitioned_table",
                _ => "table",
            };
            (id, kind.to_owned())
        })
        .collect();
    let matviews: Vec<String> =
        sqlx::query_scalar("SELECT schemaname::text || '.' || matviewname::text FROM pg_matviews")
            .fetch_all(&mut *source)
            .await
            .unwrap();
    for id in matviews {
        objects.insert(id, "materialized_view".into());
    }
    objects
}

async fn expected_fields(
    source: &mut PgConnection,
) -> BTreeMap<String, BTreeMap<String, ExpectedField>> {
    let rows: Vec<(String, String, i64, bool, String)> = sqlx::query_as(
        "SELECT c.table_schema::text || '.' || c.table_name::text, c.column_name::text, c.ordinal_position::int8,
                c.is_nullable = 'YES',
                format_type(a.atttypid, a.atttypmod)
         FROM information_schema.columns c
         JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
                            AND a.attname = c.column_name
         WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
         UNION ALL
         SELECT m.schemaname::text || '.' || m.matviewname::text, a.attname::text, a.attnum::int8, NOT a.attnotnull,
                format_type(a.atttypid, a.atttypmod)
         FROM pg_matviews m JOIN pg_attribute a ON a.attrelid = (quote_ident(m.schemaname) || '.' || quote_ident(m.matviewname))::regclass
         WHERE a.attnum > 0 AND NOT a.attisdropped",
    )
    .fetch_all(&mut *source)
    .await
    .unwrap();
    let mut fields: BTreeMap<String, BTreeMap<String, ExpectedField>> = BTreeMap::new();
    for (object, name, ordinal, nullable, remote_type) in rows {
        fields.entry(object).or_default().insert(
            name,
            ExpectedField {
                ordinal,
                nullable,
                remote_type,
            },
        );
    }
    fields
}

async fn expected_primary_keys(source: &mut PgConnection) -> BTreeMap<String, Vec<String>> {
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT tc.table_schema::text || '.' || tc.table_name::text,
                array_agg(k.column_name::text ORDER BY k.ordinal_position)
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage k
           ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
          AND k.table_name = tc.table_name
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema NOT IN ('pg_catalog', 'information_schema')
         GROUP BY 1",
    )
    .fetch_all(&mut *source)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// `schema.table.column` → (`schema.table`, column) for every foreign key column.
async fn expected_associations(source: &mut PgConnection) -> BTreeMap<String, (String, String)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT k.table_schema::text || '.' || k.table_name::text || '.' || k.column_name::text,
                t.table_schema::text || '.' || t.table_name::text, t.column_name::text
         FROM information_schema.referential_constraints r
         JOIN information_schema.key_column_usage k
           ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name
         JOIN information_schema.key_column_usage t
           ON t.constraint_schema = r.unique_constraint_schema AND t.constraint_name = r.unique_constraint_name
          AND t.ordinal_position = k.position_in_unique_constraint
         ORDER BY r.constraint_name",
    )
    .fetch_all(&mut *source)
    .await
    .unwrap();
    let mut links = BTreeMap::new();
    for (column, target, target_field) in rows {
        links.entry(column).or_insert((target, target_field));
    }
    links
}
