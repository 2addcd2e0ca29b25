//! The review's findings, replayed: a cache that said `fresh` while it was
//! wrong. Each test is one finding, as it was measured, with its new answer.

use crate::support::{refreshed, setup};
use schemata_testkit::{TestApp, load, mysql_database, source_database};
use serde_json::{Value, json};

async fn ids(app: &TestApp, id: &str) -> Vec<String> {
    app.all_objects(id)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn encoded(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Finding 1: a soft refresh after `DROP TABLE a` kept `a` (as documented),
/// and every hard refresh after it said "nothing changed" and kept it too.
#[tokio::test]
async fn a_hard_refresh_after_a_soft_one_removes_the_table_dropped_before_it() {
    let (app, source, id, worker) =
        setup("CREATE TABLE a (id int); CREATE TABLE b (id int);").await;
    refreshed(&app, &id, "").await;
    load(&source, "DROP TABLE a").await;
    refreshed(&app, &id, "?hard_refresh=false").await;
    assert_eq!(
        ids(&app, &id).await,
        ["public.a", "public.b"],
        "soft keeps it"
    );
    let hard = refreshed(&app, &id, "").await;
    assert_eq!(ids(&app, &id).await, ["public.b"]);
    let result = &hard["last_result"];
    assert_eq!(result["deleted_count"], 1, "{result}");
    assert_eq!(result["changed"], true);
    assert_eq!(
        result["message"],
        "Refresh complete. 1 table(s) refreshed, 0 failed, 1 deleted."
    );
    // And the next hard refresh, with nothing changed, reads nothing again.
    let quiet = refreshed(&app, &id, "").await;
    assert_eq!(quiet["last_result"]["objects_read"], 0, "{quiet}");
    assert_eq!(quiet["schema_version"], hard["schema_version"]);
    worker.stop().await;
}

/// Finding 2: a narrower scope changed nothing until the next refresh, and
/// samples ignored it.
#[tokio::test]
async fn a_narrower_scope_takes_effect_the_moment_the_patch_commits() {
    let (app, _source, id, worker) = setup(
        "CREATE TABLE keep (id int); CREATE TABLE drop_me (id int);
         CREATE SCHEMA other; CREATE TABLE other.t (secret text); INSERT INTO other.t VALUES ('s3cret');",
    )
    .await;
    let before = refreshed(&app, &id, "").await;
    assert_eq!(
        ids(&app, &id).await,
        ["other.t", "public.drop_me", "public.keep"]
    );
    worker.stop().await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"schema_filter": ["public"], "table_allowlist": ["public.keep"]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(ids(&app, &id).await, ["public.keep"]);
    for path in ["other.t", "other.t/records", "public.drop_me"] {
        let response = app
            .get(&format!("/api/connections/{id}/schemas/{path}"))
            .await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let status = app.status(&id).await;
    assert_eq!(
        status["cache_status"], "fresh",
        "what is left is still the source's"
    );
    assert_ne!(
        status["schema_version"], before["schema_version"],
        "another schema, another version"
    );
    let listed = app.get(&format!("/api/connections/{id}/schemas")).await;
    assert_eq!(
        listed.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", status["schema_version"].as_str().unwrap())
    );

    // Wider again: what it admits is not cached yet, so the cache is stale
    // until a hard refresh reads it.
    let widened = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"schema_filter": [], "table_allowlist": []}),
        )
        .await;
    assert_eq!(widened.status(), 200);
    assert_eq!(app.status(&id).await["cache_status"], "stale");
    let worker = app.spawn_worker();
    let soft = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hard_refresh=false"
        ))
        .await;
    assert_eq!(soft.status(), 202);
    assert_eq!(
        app.wait_for_refresh(&id).await["cache_status"],
        "stale",
        "a soft refresh does not vouch for the whole scope"
    );
    refreshed(&app, &id, "").await;
    assert_eq!(
        ids(&app, &id).await,
        ["other.t", "public.drop_me", "public.keep"]
    );
    worker.stop().await;
}

/// Finding 3: pointed at another database, the old database's objects were
/// served as `fresh`.
#[tokio::test]
async fn a_connection_pointed_elsewhere_is_stale_until_it_is_read_again() {
    let (app, _before, id, worker) = setup("CREATE TABLE only_before (id int);").await;
    refreshed(&app, &id, "").await;
    let after = source_database("CREATE TABLE only_after (id int);").await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"url": after.url()}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let status = app.status(&id).await;
    assert_eq!(status["cache_status"], "stale", "{status}");
    // A refresh with max_age does not count a stale cache as fresh enough.
    let response = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?max_age=3600"
        ))
        .await;
    assert_eq!(response.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(ids(&app, &id).await, ["public.only_after"]);
    worker.stop().await;
}

/// Finding 4: `a."b.c"` and `"a.b".c` both had id `a.b.c`.
#[tokio::test]
async fn two_tables_whose_names_join_alike_have_two_ids() {
    let (app, _source, id, worker) = setup(
        r#"CREATE SCHEMA a; CREATE SCHEMA "a.b";
           CREATE TABLE a."b.c" (in_a int);
           CREATE TABLE "a.b".c (in_a_b int, a_ref int);
           CREATE TABLE a."q""t" (id int PRIMARY KEY);
           ALTER TABLE "a.b".c ADD FOREIGN KEY (a_ref) REFERENCES a."q""t";"#,
    )
    .await;
    refreshed(&app, &id, "").await;
    assert_eq!(
        ids(&app, &id).await,
        [r#"a."b.c""#, r#"a."q""t""#, r#""a.b".c"#]
    );
    for (schema_id, field) in [(r#"a."b.c""#, "in_a"), (r#""a.b".c"#, "in_a_b")] {
        let response = app
            .get(&format!(
                "/api/connections/{id}/schemas/{}",
                encoded(schema_id)
            ))
            .await;
        assert_eq!(response.status(), 200, "{schema_id}");
        let object: Value = response.json().await.unwrap();
        assert_eq!(object["data"]["id"], schema_id);
        assert_eq!(object["data"]["fields"][0]["name"], field);
    }
    let object: Value = app
        .get(&format!(
            "/api/connections/{id}/schemas/{}",
            encoded(r#""a.b".c"#)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        object["data"]["fields"][1]["association"]["schema_id"],
        r#"a."q""t""#
    );
    let ambiguous = app
        .get(&format!("/api/connections/{id}/schemas/a.b.c"))
        .await;
    assert_eq!(ambiguous.status(), 400);
    let body: Value = ambiguous.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quoted"),
        "{body}"
    );

    // The same spelling names one table in `tables=` and in the allowlist.
    let partial = refreshed(
        &app,
        &id,
        &format!("?hard_refresh=false&tables={}", encoded(r#""a.b".c"#)),
    )
    .await;
    assert_eq!(partial["last_result"]["table_count"], 1, "{partial}");
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"table_allowlist": [r#"a."b.c""#]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let connection: Value = patched.json().await.unwrap();
    assert_eq!(connection["data"]["table_allowlist"], json!([r#"a."b.c""#]));
    assert_eq!(ids(&app, &id).await, [r#"a."b.c""#]);
    refreshed(&app, &id, "").await;
    assert_eq!(ids(&app, &id).await, [r#"a."b.c""#]);
    let history: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes"))
        .await
        .json()
        .await
        .unwrap();
    let first = history["data"].as_array().unwrap().last().unwrap();
    let mut added: Vec<String> = first["changes"]["objects_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    added.sort();
    assert_eq!(added, [r#""a.b".c"#, r#"a."b.c""#, r#"a."q""t""#]);
    worker.stop().await;
}

/// Finding 5: a connection to `mysql://…/shop` with `schema_filter:
/// ["other_db"]` cached `other_db` and served its rows.
#[tokio::test]
async fn a_mysql_urls_database_scopes_the_connection() {
    let app = TestApp::spawn().await;
    let shop = mysql_database("CREATE TABLE orders (id INT PRIMARY KEY);").await;
    let other = mysql_database("CREATE TABLE secrets (card TEXT);").await;
    let refused = app
        .post(
            "/api/connections",
            &json!({"name": "shop", "type": "mysql", "configuration": {"url": shop.url()},
                    "schema_filter": [other.name()]}),
        )
        .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(other.name()) && message.contains("scopes this connection"),
        "{message}"
    );
    let refused = app
        .post(
            "/api/connections",
            &json!({"name": "shop", "type": "mysql", "configuration": {"url": shop.url()},
                    "table_allowlist": [format!("{}.secrets", other.name())]}),
        )
        .await;
    assert_eq!(refused.status(), 400);

    let id = app
        .create_connection_with(&json!({"name": "shop", "type": "mysql",
            "configuration": {"url": shop.url()}, "schema_filter": [shop.name()]}))
        .await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"schema_filter": [other.name()]}),
        )
        .await;
    assert_eq!(patched.status(), 400, "nor by PATCH");
    let worker = app.spawn_worker();
    refreshed(&app, &id, "").await;
    assert_eq!(ids(&app, &id).await, [format!("{}.orders", shop.name())]);
    let sample = app
        .get(&format!(
            "/api/connections/{id}/schemas/{}.secrets/records",
            other.name()
        ))
        .await;
    assert_eq!(sample.status(), 404);

    // A partial refresh of another database is refused like such a filter.
    let refused = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hard_refresh=false&schemas={}",
            other.name()
        ))
        .await;
    assert_eq!(refused.status(), 400);
    // Names are matched byte for byte, not by the catalog's collation.
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"table_allowlist": [format!("{}.ORDERS", shop.name())]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    refreshed(&app, &id, "").await;
    assert!(ids(&app, &id).await.is_empty(), "`ORDERS` is not `orders`");
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"table_allowlist": []}),
        )
        .await;
    assert_eq!(patched.status(), 200);

    // Without a database in the URL, the filter chooses, as before.
    let server = app
        .create_connection_with(&json!({"name": "server", "type": "mysql",
            "configuration": {"url": shop.server_url()}, "schema_filter": [other.name()]}))
        .await;
    refreshed(&app, &server, "").await;
    assert_eq!(
        ids(&app, &server).await,
        [format!("{}.secrets", other.name())]
    );
    // Pointed at one database by its URL, the connection holds nothing else
    // from the moment the PATCH commits.
    let unpinned = app
        .create_connection_with(&json!({"name": "unpinned", "type": "mysql",
            "configuration": {"url": shop.server_url()}}))
        .await;
    refreshed(&app, &unpinned, "").await;
    assert!(
        ids(&app, &unpinned).await.len() >= 2,
        "every database it sees"
    );
    let pinned = app
        .patch(
            &format!("/api/connections/{unpinned}"),
            &json!({"configuration": {"url": shop.url()}}),
        )
        .await;
    assert_eq!(pinned.status(), 200);
    assert_eq!(
        ids(&app, &unpinned).await,
        [format!("{}.orders", shop.name())]
    );
    let sample = app
        .get(&format!(
            "/api/connections/{unpinned}/schemas/{}.secrets/records",
            other.name()
        ))
        .await;
    assert_eq!(sample.status(), 404);
    worker.stop().await;
}

/// Smaller findings: HEAD on a GET route answered 405; `/docs` carried no
/// CSP, framing or sniffing headers.
#[tokio::test]
async fn head_answers_as_get_and_the_docs_page_is_locked_down() {
    let app = TestApp::spawn().await;
    for path in [
        "/healthz",
        "/readyz",
        "/api/connections",
        "/docs/index.html",
    ] {
        let get = app.get(path).await;
        let head = app
            .client
            .head(app.url(path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
    let docs = app.get("/docs/index.html").await;
    let headers = docs.headers();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let not_allowed = app
        .client
        .put(app.url("/api/connections"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(not_allowed.status(), 405, "other methods still are not");
    let worker = app.spawn_worker();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let head = app
            .client
            .head(format!("http://127.0.0.1:{}{path}", worker.ops_port))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "worker {path}");
        assert!(head.bytes().await.unwrap().is_empty());
    }
    worker.stop().await;
}

/// A change of the connection that commits while a refresh is writing: the
/// refresh writes nothing, reads again under the new settings, and that
/// second read does not use up one of its attempts.
#[tokio::test]
async fn a_refresh_superseded_by_a_patch_reads_again_without_using_an_attempt() {
    let (app, _source, id, worker) = setup("CREATE TABLE t (id int);").await;
    // The first object the refresh writes brings, in its transaction, the
    // change of generation a PATCH makes (once: a sequence is not rolled back).
    sqlx::raw_sql(
        "CREATE SEQUENCE superseded_once;
         CREATE FUNCTION supersede_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('superseded_once') = 1 THEN
                 UPDATE connections SET scope_generation = scope_generation + 1
                 WHERE id = NEW.connection_id;
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER supersede_once AFTER INSERT ON schema_objects
             FOR EACH ROW EXECUTE FUNCTION supersede_once();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let status = refreshed(&app, &id, "").await;
    assert_eq!(ids(&app, &id).await, ["public.t"]);
    let job = status["last_result"]["job_id"].as_str().unwrap().to_owned();
    let run: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["data"]["status"], "succeeded", "{run}");
    assert_eq!(
        run["data"]["attempt"], 1,
        "the superseded read was given back"
    );
    let calls: i64 = sqlx::query_scalar("SELECT last_value FROM superseded_once")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        calls, 2,
        "written twice: the superseded write, then the real one"
    );
    worker.stop().await;
}
