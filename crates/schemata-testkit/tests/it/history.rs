//! Refresh history: every run with its stored, classified diff, newest first
//! and paginated, per connection and across the organization; retention.

use schemata_testkit::{TestApp, load, source_database};
use serde_json::{Value, json};

async fn refreshed(app: &TestApp, id: &str) -> String {
    let response = app.request_refresh(id).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let status = app.wait_for_refresh(id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    job["data"]["job_id"].as_str().unwrap().to_owned()
}

async fn data(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_run_keeps_the_diff_it_applied_and_whether_it_breaks_readers() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE users (id int PRIMARY KEY, email varchar(64), nick text, age int);
         CREATE TABLE old_logs (id int);",
    )
    .await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    let first = refreshed(&app, &id).await;

    // Additions only: not breaking.
    load(
        &source,
        "CREATE TABLE events (id int); ALTER TABLE users ADD COLUMN bio text;",
    )
    .await;
    let additive = refreshed(&app, &id).await;
    // Removals, narrowing, NOT NULL, a new key: breaking.
    load(
        &source,
        "DROP TABLE old_logs; ALTER TABLE users DROP COLUMN nick;
         ALTER TABLE users ALTER COLUMN email TYPE varchar(32);
         ALTER TABLE users ALTER COLUMN age SET NOT NULL;
         ALTER TABLE events ADD PRIMARY KEY (id);",
    )
    .await;
    let breaking = refreshed(&app, &id).await;
    let unchanged = refreshed(&app, &id).await;

    let runs = format!("/api/connections/{id}/schemas/refreshes");
    let run = |job: String| {
        let app = &app;
        let runs = runs.clone();
        async move { data(app, &format!("{runs}/{job}")).await["data"].clone() }
    };
    let additive = run(additive).await;
    assert_eq!(additive["status"], "succeeded");
    assert_eq!(additive["trigger"], "api");
    assert_eq!(
        additive["options"],
        json!({"hard_refresh": true, "schemas": [], "tables": []})
    );
    assert_eq!(
        additive["changes"]["objects_added"],
        json!(["public.events"])
    );
    assert_eq!(
        additive["changes"]["objects_changed"][0]["fields_added"],
        json!(["bio"])
    );
    assert_eq!(additive["changes"]["breaking"], false, "{additive}");

    let breaking = run(breaking).await;
    let changes = &breaking["changes"];
    eprintln!(
        "sample diff: {}",
        serde_json::to_string_pretty(changes).unwrap()
    );
    assert_eq!(changes["objects_removed"], json!(["public.old_logs"]));
    assert_eq!(changes["breaking"], true);
    let users = changes["objects_changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["schema_id"] == "public.users")
        .unwrap();
    assert_eq!(users["fields_removed"], json!(["nick"]));
    let email = users["fields_changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "email")
        .unwrap();
    assert_eq!(
        email["before"]["remote_type"], "character varying(64)",
        "{email}"
    );
    assert_eq!(email["after"]["remote_type"], "character varying(32)");
    let reasons: Vec<&str> = changes["breaking_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for expected in [
        "object public.old_logs was removed",
        "field public.users.nick was removed",
        "public.users.email was narrowed from character varying(64) to character varying(32)",
        "public.users.age was made NOT NULL",
        "the primary key of public.events changed from [] to [\"id\"]",
    ] {
        assert!(reasons.contains(&expected), "{expected} in {reasons:?}");
    }

    let unchanged = run(unchanged).await;
    assert_eq!(unchanged["status"], "succeeded");
    assert_eq!(unchanged["result"]["changed"], false);
    assert_eq!(unchanged["result"]["objects_written"], 0, "no cache rows");
    assert_eq!(
        unchanged["changes"],
        json!({"objects_added": [], "objects_removed": [], "objects_changed": [],
               "breaking": false, "breaking_reasons": [],
               "counts": {"objects_added": 0, "objects_removed": 0, "objects_changed": 0},
               "changes_truncated": false})
    );

    // Newest first, one page at a time.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = data(&app, &format!("{runs}?limit=1&cursor={cursor}")).await;
        let items = page["data"].as_array().unwrap();
        assert!(items.len() <= 1);
        seen.extend(
            items
                .iter()
                .map(|r| r["job_id"].as_str().unwrap().to_owned()),
        );
        match page["pagination"]["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[3], first, "the first run comes last");
    assert_eq!(seen[0], unchanged["job_id"].as_str().unwrap());

    // Across the organization, with the queue's counts beside.
    let all = data(&app, "/api/refreshes?status=succeeded,failed").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(all["counts"], json!({"queued": 0, "running": 0}));
    let none = data(&app, "/api/refreshes?status=queued,running").await;
    assert_eq!(none["data"], json!([]));
    let bad = app.get("/api/refreshes?status=done").await;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown run status `done`")
    );

    // Another organization sees none of it.
    let other = app
        .key_for("globex", &[schemata_core::Scope::SchemasRead])
        .await;
    for path in [format!("{runs}/{first}"), runs.clone()] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let theirs: Value = app
        .client
        .get(app.url("/api/refreshes"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));
    let missing = app.get(&format!("{runs}/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(missing.status(), 404);
    worker.stop().await;
}

#[tokio::test]
async fn history_older_than_its_retention_is_pruned_but_the_last_run_stays() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    let old = refreshed(&app, &id).await;
    let last = refreshed(&app, &id).await;
    worker.stop().await;
    sqlx::query("UPDATE refresh_runs SET finished_at = now() - interval '100 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        schemata_store::history::prune(&app.pool, 90).await.unwrap(),
        1
    );
    let runs = format!("/api/connections/{id}/schemas/refreshes");
    assert_eq!(app.get(&format!("{runs}/{old}")).await.status(), 404);
    assert_eq!(app.get(&format!("{runs}/{last}")).await.status(), 200);
    assert_eq!(
        app.status(&id).await["last_result"]["job_id"],
        last.as_str(),
        "the status page still shows the last run"
    );
    assert_eq!(
        schemata_store::history::prune(&app.pool, 200)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_run_stored_in_another_versions_shape_shows_without_it_and_does_not_fail_the_page() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("src", &source).await;
    let worker = app.spawn_worker();
    let job = refreshed(&app, &id).await;
    worker.stop().await;
    // The shape of change sets before the classified diff, and a result
    // with a count that is not a number.
    sqlx::query(
        "UPDATE refresh_runs SET change_set = '{\"added\": [\"public.t\"], \"removed\": [], \"changed\": []}',
                                 result = '{\"table_count\": \"many\"}'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let page = data(&app, &format!("/api/connections/{id}/schemas/refreshes")).await;
    assert_eq!(page["data"][0]["job_id"], job.as_str(), "{page}");
    assert_eq!(page["data"][0]["status"], "succeeded", "{page}");
    assert_eq!(page["data"][0]["changes"], Value::Null, "{page}");
    assert_eq!(page["data"][0]["result"], Value::Null, "{page}");
    let all = data(&app, "/api/refreshes").await;
    assert_eq!(all["data"][0]["job_id"], job.as_str(), "{all}");
    let status = app.status(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_result"], Value::Null, "{status}");
}

#[tokio::test]
async fn list_pages_summarize_a_large_change_set_and_the_run_endpoint_keeps_it_whole() {
    let app = TestApp::spawn().await;
    let tables: String = (0..150)
        .map(|n| format!("CREATE TABLE t{n:03} (id int);"))
        .collect();
    let source = source_database(&tables).await;
    let id = app.create_connection("wide", source.url()).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    worker.stop().await;

    let page: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes"))
        .await
        .json()
        .await
        .unwrap();
    let summary = &page["data"][0]["changes"];
    assert_eq!(summary["objects_added"].as_array().unwrap().len(), 100);
    assert_eq!(summary["counts"]["objects_added"], 150);
    assert_eq!(summary["changes_truncated"], true);
    let everywhere: Value = app.get("/api/refreshes").await.json().await.unwrap();
    assert_eq!(everywhere["data"][0]["changes"]["changes_truncated"], true);

    let job = page["data"][0]["job_id"].as_str().unwrap();
    let whole: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await
        .json()
        .await
        .unwrap();
    let changes = &whole["data"]["changes"];
    assert_eq!(changes["objects_added"].as_array().unwrap().len(), 150);
    assert_eq!(changes["counts"]["objects_added"], 150);
    assert_eq!(changes["changes_truncated"], false);
}
