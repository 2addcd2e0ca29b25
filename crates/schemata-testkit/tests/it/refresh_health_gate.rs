//! Refreshes of unreachable sources are refused with 409 before anything is queued.

use schemata_testkit::{TestApp, fresh_database, server};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpListener;

async fn assert_refused_without_a_job(app: &TestApp, connection_id: &str, reason: &str) {
    let response = app.request_refresh(connection_id).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "connection_unhealthy");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(reason),
        "message `{message}` should contain `{reason}`"
    );
    assert!(body["error"]["requestId"].is_string());

    let (runs, jobs) = app.runs_and_jobs().await;
    assert_eq!(
        (runs, jobs),
        (0, 0),
        "no run and no job for an unhealthy connection"
    );

    let connection: Value = app
        .get(&format!("/api/connections/{connection_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(connection["data"]["health_status"], "unhealthy");
    assert!(
        connection["data"]["health_message"]
            .as_str()
            .unwrap()
            .contains(reason)
    );
    assert!(connection["data"]["health_checked_at"].is_string());
    let status = app.status(connection_id).await;
    assert_eq!(status["cache_status"], "none");
}

#[tokio::test]
async fn refresh_with_an_unknown_role_is_refused_with_409_and_the_reason() {
    let app = TestApp::spawn().await;
    let database = fresh_database("src").await;
    let url = database.replacen(
        "postgres://postgres@",
        "postgres://no_such_reader:secret@",
        1,
    );
    let id = app.create_connection("bad-user", &url).await;
    assert_refused_without_a_job(&app, &id, "role \"no_such_reader\" does not exist").await;
}

#[tokio::test]
async fn refresh_of_a_missing_database_is_refused_with_409() {
    let app = TestApp::spawn().await;
    let url = server().await.database_url("schemata_no_such_database");
    let id = app.create_connection("no-db", &url).await;
    assert_refused_without_a_job(
        &app,
        &id,
        "database \"schemata_no_such_database\" does not exist",
    )
    .await;
}

#[tokio::test]
async fn refresh_of_a_closed_port_is_refused_with_409() {
    let app = TestApp::spawn().await;
    // Bind then drop, so the port is known to be closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let id = app
        .create_connection(
            "closed",
            &format!("postgres://reader:secret@127.0.0.1:{port}/app"),
        )
        .await;
    assert_refused_without_a_job(&app, &id, "unreachable").await;
}

#[tokio::test]
async fn refresh_of_an_unknown_host_is_refused_with_409() {
    let app = TestApp::spawn().await;
    let id = app
        .create_connection(
            "nowhere",
            "postgres://reader:secret@no-such-host.invalid:5432/app",
        )
        .await;
    assert_refused_without_a_job(&app, &id, "unreachable").await;
}

#[tokio::test]
async fn refresh_of_a_source_that_never_answers_is_refused_after_the_health_timeout() {
    let app =
        TestApp::spawn_with(|settings| settings.health_timeout = Duration::from_secs(1)).await;
    // Accepts connections and then says nothing, like a wedged server.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let id = app
        .create_connection(
            "silent",
            &format!("postgres://reader:secret@127.0.0.1:{port}/app"),
        )
        .await;
    assert_refused_without_a_job(&app, &id, "unreachable").await;
}

#[tokio::test]
async fn test_endpoint_reports_health_latency_and_never_echoes_the_password() {
    let app = TestApp::spawn().await;
    let database = fresh_database("src").await;
    let id = app.create_connection("ok", &database).await;
    let response = app.post_empty(&format!("/api/connections/{id}/test")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["health"], "healthy");
    assert_eq!(body["data"]["message"], Value::Null);
    assert!(body["data"]["latency_ms"].is_u64());
    assert!(body["data"]["checked_at"].as_str().unwrap().ends_with('Z'));

    let bad = app
        .create_connection("bad", "postgres://reader:hunter2@127.0.0.1:1/app")
        .await;
    let body: Value = app.check_health(&bad).await;
    assert_eq!(body["health"], "unhealthy");
    assert!(!body.to_string().contains("hunter2"));
}

#[tokio::test]
async fn refresh_with_a_wrong_password_is_refused_with_the_servers_reason() {
    let app = TestApp::spawn().await;
    let protected = schemata_testkit::password_protected_server().await;
    let right = protected.database_url("postgres");
    let wrong = right.replacen(":schemata-test@", ":not-the-password@", 1);
    assert_ne!(right, wrong);

    let good = app.create_connection("right-password", &right).await;
    let health: Value = app.check_health(&good).await;
    assert_eq!(
        health["health"], "healthy",
        "the protected server accepts the right password: {health}"
    );

    let bad = app.create_connection("wrong-password", &wrong).await;
    assert_refused_without_a_job(
        &app,
        &bad,
        "password authentication failed for user \"postgres\"",
    )
    .await;
}

/// A source found healthy a moment ago is not asked again: the refresh is
/// queued at once on that verdict (the worker reads the source anyway). An
/// older verdict, or none, means a live check first.
#[tokio::test]
async fn a_fresh_healthy_verdict_spares_the_live_check_and_an_old_one_does_not() {
    let app = TestApp::spawn_with(|s| {
        s.health_verdict_ttl = Duration::from_secs(60);
        s.health_timeout = Duration::from_secs(1);
    })
    .await;
    let source = schemata_testkit::source_database("CREATE TABLE t (id int);").await;
    let port: u16 = url::Url::parse(source.url())
        .unwrap()
        .port()
        .unwrap_or(5432);
    let proxy = schemata_testkit::tcp_proxy::TcpProxy::start(port).await;
    let mut through_proxy = url::Url::parse(source.url()).unwrap();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    let id = app
        .create_connection("behind a proxy", through_proxy.as_str())
        .await;
    assert_eq!(app.check_health(&id).await["health"], "healthy");

    // The source goes away; the verdict is a second old.
    proxy.set_open(false);
    let queued = app.request_refresh(&id).await;
    assert_eq!(queued.status(), 202, "queued on the recent verdict");
    let job = queued.json::<Value>().await.unwrap()["data"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .delete(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await;
    assert_eq!(cancelled.status(), 200);

    // A verdict older than the window: checked live, refused.
    sqlx::query(
        "UPDATE connections SET health_checked_at = now() - interval '2 minutes' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    let refused = app.request_refresh(&id).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "connection_unhealthy");
    // The failed check replaced the verdict: the next request checks live too.
    assert_eq!(app.request_refresh(&id).await.status(), 409);
}

/// A health check that raced a change of configuration says nothing of the
/// new one: its verdict is not recorded, and the next refresh checks live.
#[tokio::test]
async fn a_check_of_the_previous_configuration_is_not_recorded_for_the_new_one() {
    let app = TestApp::spawn_with(|s| s.health_verdict_ttl = Duration::from_secs(60)).await;
    let source = schemata_testkit::source_database("CREATE TABLE t (id int);").await;
    let id = app.create_connection("changing", source.url()).await;
    let before =
        schemata_store::connections::get(&app.pool, app.organization_id, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
    let mut elsewhere = url::Url::parse(source.url()).unwrap();
    elsewhere.set_path("/no_such_database");
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &serde_json::json!({"configuration": {"url": elsewhere.as_str()}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    // The check of the old configuration finishes now.
    schemata_store::connections::set_health(&app.pool, before.id, before.updated_at, true, None)
        .await
        .unwrap();
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["health_status"], "unknown");
    let refused = app.request_refresh(&id).await;
    assert_eq!(
        refused.status(),
        409,
        "checked live, not on the stale verdict"
    );
}
