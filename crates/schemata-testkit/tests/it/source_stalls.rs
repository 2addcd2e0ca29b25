//! No source can stall or flood a worker, nor one organization's slow sources
//! hold up everyone's health checks.

use schemata_testkit::{
    TestApp,
    fake_postgres::{Behaviour, FakePostgres},
    source_database,
};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test]
async fn a_source_that_stops_answering_frees_its_worker_slot() {
    let app = TestApp::spawn().await;
    // Passes the health check, then never answers BEGIN.
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let wedged_id = app
        .create_connection(
            "wedged",
            &format!("postgres://reader:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let healthy_id = app.create_connection("healthy", &source).await;

    let mut settings = app.worker_settings();
    settings.concurrency = 1;
    settings.sources.limits.statement_timeout = Duration::from_secs(2);
    // Far beyond the test's patience: only the client-side deadline can end it.
    settings.job_timeout = Duration::from_secs(600);
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&wedged_id).await.status(), 202);
    assert_eq!(app.request_refresh(&healthy_id).await.status(), 202);

    let wedged_status = app.wait_for_refresh(&wedged_id).await;
    let healthy_status = app.wait_for_refresh(&healthy_id).await;
    worker.stop().await;
    assert_eq!(wedged_status["cache_status"], "error");
    assert_eq!(
        wedged_status["last_refresh_error"],
        "the source did not answer within 4s"
    );
    assert!(
        wedged
            .sessions()
            .iter()
            .any(|s| s.queries.iter().any(|q| q.starts_with("BEGIN"))),
        "the worker got as far as BEGIN"
    );
    assert_eq!(
        healthy_status["cache_status"], "fresh",
        "the one slot was free again for the next refresh"
    );
}

#[tokio::test]
async fn catalogs_beyond_the_caps_fail_the_refresh_clearly_and_keep_the_cache() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE a (id int PRIMARY KEY, x text, y text); CREATE TABLE b (id int PRIMARY KEY);",
    )
    .await;
    let id = app.create_connection("big", &source).await;
    let worker = app.spawn_worker();
    app.request_refresh(&id).await;
    let first = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(first["cache_status"], "fresh");
    // Something to read: a refresh that finds nothing changed reads nothing.
    schemata_testkit::load(&source, "ALTER TABLE a ADD COLUMN z int;").await;

    type Cap = fn(&mut schemata_sources::SourceLimits);
    let caps: [(&str, Cap); 3] = [
        ("more than 1 tables and views", |l| l.max_objects = 1),
        ("more than 3 columns", |l| l.max_columns = 3),
        ("larger than 0 MiB", |l| l.max_bytes = 64),
    ];
    for (message, cap) in caps {
        let mut settings = app.worker_settings();
        cap(&mut settings.sources.limits);
        let worker = app.spawn_worker_with(settings);
        assert_eq!(app.request_refresh(&id).await.status(), 202);
        let status = app.wait_for_refresh(&id).await;
        worker.stop().await;
        assert_eq!(status["cache_status"], "error");
        let error = status["last_refresh_error"].as_str().unwrap();
        assert!(error.contains(message), "`{error}` should say `{message}`");
        assert!(error.contains("SCHEMATA_SOURCE_MAX_"), "{error}");
        assert_eq!(status["schema_version"], first["schema_version"]);
        assert_eq!(
            app.all_objects(&id).await.len(),
            2,
            "the cache is untouched"
        );
    }
}

#[tokio::test]
async fn waiting_for_a_health_check_slot_counts_inside_the_timeout_and_one_organization_cannot_take_them_all()
 {
    let app = TestApp::spawn_with(|s| {
        s.health_timeout = Duration::from_secs(1);
        s.max_concurrent_health_checks = 4;
        s.health_checks_per_organization = 1;
    })
    .await;
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let slow = app
        .create_connection(
            "slow",
            &format!("postgres://reader:pw@127.0.0.1:{port}/app"),
        )
        .await;
    let other_org = app.key_for("globex", &schemata_core::Scope::ALL).await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let globex_connection: Value = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&other_org)
        .json(&serde_json::json!({"name": "fast", "type": "postgresql", "configuration": {"url": source.url()}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fast = globex_connection["data"]["id"].as_str().unwrap().to_owned();

    let test = |key: String, id: String| {
        let client = app.client.clone();
        let url = app.url(&format!("/api/connections/{id}/test"));
        async move {
            let response = client.post(url).bearer_auth(key).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body, ())
        }
    };
    let first = tokio::spawn(test(app.api_key.clone(), slow.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (second, (fast_status, fast_body, _)) = tokio::join!(
        test(app.api_key.clone(), slow.clone()),
        test(other_org.clone(), fast.clone())
    );
    let (first_status, first_body, _) = first.await.unwrap();
    assert_eq!(first_status, 200);
    assert_eq!(first_body["data"]["message"], "unreachable");
    let (second_status, second_body, _) = second;
    assert_eq!(
        second_status, 503,
        "the second check of the same organization gave up waiting for a slot: {second_body}"
    );
    assert_eq!(second_body["error"]["code"], "unavailable");
    assert_eq!(fast_status, 200);
    assert_eq!(
        fast_body["data"]["health"], "healthy",
        "another organization is not held up: {fast_body}"
    );
    let unaffected: Value = app
        .get(&format!("/api/connections/{slow}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        unaffected["data"]["health_message"], "unreachable",
        "waiting for a slot says nothing about the source"
    );
}

/// One organization's refreshes hold at most its share of worker slots (here
/// 1): its second refresh waits on the queue while another organization's
/// runs, and goes once the first lets its slot go.
#[tokio::test]
async fn one_organization_cannot_take_every_worker_slot() {
    let app = TestApp::spawn().await;
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let url = format!("postgres://reader:pw@127.0.0.1:{}/app", wedged.port);
    let first = app.create_connection("first", &url).await;
    let second = app.create_connection("second", &url).await;
    let globex = app.key_for("globex", &schemata_core::Scope::ALL).await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let created: Value = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&globex)
        .json(&serde_json::json!({"name": "theirs", "type": "postgresql", "configuration": {"url": source.url()}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs = created["data"]["id"].as_str().unwrap().to_owned();

    let mut settings = wedging_settings(&app);
    settings.organization_slots = 1;
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&first).await.status(), 202);
    app.wait_for_job(&first, "running").await;
    assert_eq!(app.request_refresh(&second).await.status(), 202);
    let refreshed = app
        .client
        .post(app.url(&format!("/api/connections/{theirs}/schemas/refresh")))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 202);
    // The other organization's refresh runs to the end on a free slot…
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = app
            .client
            .get(app.url(&format!("/api/connections/{theirs}/schemas/status")))
            .bearer_auth(&globex)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["data"]["cache_status"] == "fresh" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …while ours waits for its organization's one slot, with free slots idle.
    let waiting = app.status(&second).await;
    assert_eq!(waiting["current_job"]["status"], "queued", "{waiting}");
    assert_eq!(waiting["current_job"]["attempt"], 0);
    // The first lets go (cancelled): the second gets the slot.
    let job = app.status(&first).await["current_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .delete(&format!("/api/connections/{first}/schemas/refreshes/{job}"))
        .await;
    assert_eq!(cancelled.status(), 200);
    app.wait_for_job(&second, "running").await;
    let job = app.status(&second).await["current_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!(
        "/api/connections/{second}/schemas/refreshes/{job}"
    ))
    .await;
    worker.stop().await;
}

/// Refreshes reading one source server hold at most its slots (here 1),
/// whatever connection they belong to: a second connection to the wedged
/// server waits on the queue (no attempt counted) while a connection to
/// another server refreshes, and goes once the first lets its slot go.
#[tokio::test]
async fn one_source_server_cannot_take_every_worker_slot() {
    let app = TestApp::spawn().await;
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    // Two databases on one server: one server, so one cap.
    let first = app
        .create_connection(
            "first",
            &format!("postgres://reader:pw@127.0.0.1:{}/app", wedged.port),
        )
        .await;
    let second = app
        .create_connection(
            "second",
            &format!("postgres://other:pw@127.0.0.1:{}/other", wedged.port),
        )
        .await;
    let source = source_database("CREATE TABLE t (id int);").await;
    let elsewhere = app.create_connection("elsewhere", source.url()).await;

    let mut settings = wedging_settings(&app);
    settings.organization_slots = 0;
    settings.source_server_slots = 1;
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&first).await.status(), 202);
    app.wait_for_job(&first, "running").await;
    assert_eq!(app.request_refresh(&second).await.status(), 202);
    assert_eq!(app.request_refresh(&elsewhere).await.status(), 202);
    // Another server's refresh runs to the end on a free slot…
    assert_eq!(
        app.wait_for_refresh(&elsewhere).await["cache_status"],
        "fresh"
    );
    // …while the second connection to the busy server waits for its one slot.
    let waiting = app.status(&second).await;
    assert_eq!(waiting["current_job"]["status"], "queued", "{waiting}");
    assert_eq!(waiting["current_job"]["attempt"], 0);
    let job = app.status(&first).await["current_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .delete(&format!("/api/connections/{first}/schemas/refreshes/{job}"))
        .await;
    assert_eq!(cancelled.status(), 200);
    app.wait_for_job(&second, "running").await;
    let job = app.status(&second).await["current_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!(
        "/api/connections/{second}/schemas/refreshes/{job}"
    ))
    .await;
    worker.stop().await;
}

/// A server shared by two organizations: one of them holds at most half its
/// slots (here 1 of 2), so the other's refresh of that server still runs.
#[tokio::test]
async fn one_organization_cannot_take_every_slot_of_a_shared_server() {
    let app = TestApp::spawn().await;
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let url = |user: &str| format!("postgres://{user}:pw@127.0.0.1:{}/app", wedged.port);
    let first = app.create_connection("first", &url("first")).await;
    let second = app.create_connection("second", &url("second")).await;
    let globex = app.key_for("globex", &schemata_core::Scope::ALL).await;
    let created: Value = app
        .send(
            app.client
                .post(app.url("/api/connections"))
                .bearer_auth(&globex)
                .json(&serde_json::json!({"name": "theirs", "type": "postgresql",
                    "configuration": {"url": url("theirs")}})),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs = created["data"]["id"].as_str().unwrap().to_owned();

    let mut settings = wedging_settings(&app);
    settings.organization_slots = 0;
    settings.source_server_slots = 2;
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&first).await.status(), 202);
    app.wait_for_job(&first, "running").await;
    assert_eq!(app.request_refresh(&second).await.status(), 202);
    let asked = app
        .send(
            app.client
                .post(app.url(&format!("/api/connections/{theirs}/schemas/refresh")))
                .bearer_auth(&globex),
        )
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    // The other organization gets the server's second slot…
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = app
            .send(
                app.client
                    .get(app.url(&format!("/api/connections/{theirs}/schemas/status")))
                    .bearer_auth(&globex),
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["data"]["current_job"]["status"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …while ours waits, though the server had a free slot before.
    let waiting = app.status(&second).await;
    assert_eq!(waiting["current_job"]["status"], "queued", "{waiting}");
    assert_eq!(waiting["current_job"]["attempt"], 0);
    for (connection, key) in [
        (&first, &app.api_key),
        (&second, &app.api_key),
        (&theirs, &globex),
    ] {
        let status: Value = app
            .send(
                app.client
                    .get(app.url(&format!("/api/connections/{connection}/schemas/status")))
                    .bearer_auth(key),
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let job = status["data"]["current_job"]["job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.send(
            app.client
                .delete(app.url(&format!(
                    "/api/connections/{connection}/schemas/refreshes/{job}"
                )))
                .bearer_auth(key),
        )
        .await
        .unwrap();
    }
    worker.stop().await;
}

/// Four slots, and refreshes of a wedged source left wedged for as long as
/// a test needs (its cancel ends them).
fn wedging_settings(app: &TestApp) -> schemata_worker::WorkerSettings {
    let mut settings = app.worker_settings();
    settings.concurrency = 4;
    settings.sources.limits.statement_timeout = Duration::from_secs(300);
    settings.job_timeout = Duration::from_secs(600);
    settings
}
