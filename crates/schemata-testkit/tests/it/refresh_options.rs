//! Hard, soft and partial refreshes, `max_age`, the connection's filters and
//! the TTL, each against a source that changes between refreshes.

use crate::support::{refreshed, setup};
use schemata_testkit::{TestApp, load, source_database};
use serde_json::{Value, json};
use std::time::Duration;

async fn cached(app: &TestApp, id: &str) -> Vec<(String, usize)> {
    let mut objects = Vec::new();
    for object in app.all_objects(id).await {
        let name = object["id"].as_str().unwrap().to_owned();
        let fields = object["field_count"].as_u64().unwrap() as usize;
        objects.push((name, fields));
    }
    objects
}

fn names(objects: &[(&str, usize)]) -> Vec<(String, usize)> {
    objects.iter().map(|(n, f)| ((*n).to_owned(), *f)).collect()
}

#[tokio::test]
async fn a_hard_refresh_removes_what_is_gone_from_the_source_and_counts_it() {
    let (app, source, id, worker) =
        setup("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);").await;
    refreshed(&app, &id, "").await;
    assert_eq!(cached(&app, &id).await.len(), 3);
    load(&source, "DROP TABLE b; ALTER TABLE a ADD COLUMN x text;").await;
    let status = refreshed(&app, &id, "").await;
    assert_eq!(
        cached(&app, &id).await,
        names(&[("public.a", 2), ("public.c", 1)])
    );
    let result = &status["last_result"];
    assert_eq!(result["deleted_count"], 1);
    assert_eq!(result["table_count"], 2);
    assert_eq!(
        result["message"],
        "Refresh complete. 2 table(s) refreshed, 0 failed, 1 deleted."
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_soft_refresh_adds_and_updates_but_never_removes() {
    let (app, source, id, worker) =
        setup("CREATE TABLE a (id int); CREATE TABLE b (id int);").await;
    refreshed(&app, &id, "").await;
    load(
        &source,
        "DROP TABLE b; CREATE TABLE d (id int); ALTER TABLE a ADD COLUMN x text;",
    )
    .await;
    let status = refreshed(&app, &id, "?hard_refresh=false").await;
    assert_eq!(
        cached(&app, &id).await,
        names(&[("public.a", 2), ("public.b", 1), ("public.d", 1)]),
        "b is gone from the source but a soft refresh keeps it"
    );
    assert_eq!(status["last_result"]["deleted_count"], 0);
    worker.stop().await;
}

#[tokio::test]
async fn a_partial_refresh_reads_only_the_objects_or_schemas_it_names() {
    let (app, source, id, worker) = setup(
        "CREATE TABLE a (id int); CREATE TABLE b (id int);
         CREATE SCHEMA sales; CREATE TABLE sales.orders (id int);",
    )
    .await;
    refreshed(&app, &id, "").await;
    load(
        &source,
        "ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN x int; ALTER TABLE sales.orders ADD COLUMN x int;
         CREATE TABLE sales.refunds (id int);",
    )
    .await;
    let status = refreshed(&app, &id, "?hard_refresh=false&tables=public.a").await;
    assert_eq!(status["last_result"]["table_count"], 1, "only a was read");
    assert_eq!(
        cached(&app, &id).await,
        names(&[("public.a", 2), ("public.b", 1), ("sales.orders", 1)])
    );
    refreshed(&app, &id, "?hard_refresh=false&schemas=sales").await;
    assert_eq!(
        cached(&app, &id).await,
        names(&[
            ("public.a", 2),
            ("public.b", 1),
            ("sales.orders", 2),
            ("sales.refunds", 1)
        ])
    );
    worker.stop().await;
}

#[tokio::test]
async fn max_age_answers_with_the_current_status_while_the_cache_is_fresh_enough() {
    let (app, source, id, worker) = setup("CREATE TABLE a (id int);").await;
    let first = refreshed(&app, &id, "").await;
    let path = format!("/api/connections/{id}/schemas/refresh?max_age=3600");
    let answer = app.post_empty(&path).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["cache_status"], "fresh");
    assert_eq!(
        body["data"]["last_result"]["job_id"],
        first["last_result"]["job_id"]
    );
    assert_eq!(app.runs_and_jobs().await.0, 1, "no new run");
    load(&source, "CREATE TABLE b (id int);").await;
    let status = refreshed(&app, &id, "?max_age=0").await;
    assert_ne!(
        status["last_result"]["job_id"],
        first["last_result"]["job_id"]
    );
    assert_eq!(cached(&app, &id).await.len(), 2);
    worker.stop().await;
}

#[tokio::test]
async fn schema_filter_and_table_allowlist_decide_what_is_cached() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE a (id int); CREATE TABLE b (id int);
         CREATE SCHEMA sales; CREATE TABLE sales.orders (id int); CREATE TABLE sales.\"Orders\" (id int);
         CREATE SCHEMA hidden; CREATE TABLE hidden.secrets (id int);",
    )
    .await;
    let id = app
        .create_connection_with(&json!({"name": "filtered", "type": "postgresql",
            "configuration": {"url": source.url()},
            "schema_filter": ["public", "sales"], "table_allowlist": ["public.a", "sales.Orders"]}))
        .await;
    let worker = app.spawn_worker();
    refreshed(&app, &id, "").await;
    assert_eq!(
        cached(&app, &id).await,
        names(&[("public.a", 1), ("sales.Orders", 1)]),
        "allowlist entries match exactly, case included"
    );
    let opened = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"table_allowlist": ["*"]}),
        )
        .await;
    assert_eq!(opened.status(), 200);
    refreshed(&app, &id, "").await;
    assert_eq!(
        cached(&app, &id).await,
        names(&[
            ("public.a", 1),
            ("public.b", 1),
            ("sales.Orders", 1),
            ("sales.orders", 1)
        ]),
        "every table of the filtered schemas, none of `hidden`"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_fresh_cache_turns_stale_once_its_ttl_has_passed() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE a (id int);").await;
    let id = app
        .create_connection_with(&json!({"name": "ttl", "type": "postgresql",
            "configuration": {"url": source.url()}, "refresh_ttl_seconds": 1}))
        .await;
    let worker = app.spawn_worker();
    refreshed(&app, &id, "").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.status(&id).await["cache_status"], "stale");
    worker.stop().await;
}
