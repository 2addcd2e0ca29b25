//! One access policy decides every destination: Schemata's own database, denied
//! networks (checked on the address connected to), and it says no more than
//! "unreachable" or "refused by policy" about what it could not reach.

use schemata_core::{ObjectKind, SourceConfig, SourceKind};
use schemata_sources::{AccessPolicy, PolicySettings, Source, SourceError, SourceLimits, connect};
use schemata_testkit::{
    TestApp,
    fake_postgres::{Behaviour, FakePostgres},
    source_database,
};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpListener};

fn denying(networks: &str) -> PolicySettings {
    PolicySettings {
        deny_networks: PolicySettings::parse_networks(networks).unwrap(),
        sqlite_root: None,
        ..Default::default()
    }
}

#[tokio::test]
async fn schematas_own_database_is_refused_as_a_source() {
    let app = TestApp::spawn().await;
    let own = app.store.database_url.clone();
    let localhost = own.replacen("127.0.0.1", "localhost", 1);
    for (name, url) in [("own", &own), ("own-by-name", &localhost)] {
        let id = app.create_connection(name, url).await;
        let health = app.check_health(&id).await;
        assert_eq!(health["health"], "unhealthy", "{url}");
        assert_eq!(health["message"], "refused by policy");
        let refused = app.request_refresh(&id).await;
        assert_eq!(refused.status(), 409);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            "Connection is unhealthy: refused by policy"
        );
    }
    assert_eq!(app.runs_and_jobs().await, (0, 0), "nothing was queued");
}

/// Reached by a route the address check does not know (here: a policy told our
/// database is elsewhere), the marker our migrations set still refuses it.
#[tokio::test]
async fn our_database_is_recognised_by_its_marker_whatever_the_address() {
    let app = TestApp::spawn().await;
    let policy = AccessPolicy::build(
        &PolicySettings::default(),
        "postgres://postgres@127.0.0.1:6543/other",
    )
    .await
    .unwrap();
    let config = SourceConfig::parse(
        SourceKind::Postgresql,
        &json!({"url": app.store.database_url}),
    )
    .unwrap();
    let source = connect(
        SourceKind::Postgresql,
        &config,
        SourceLimits::default(),
        &policy,
    )
    .unwrap();
    assert!(matches!(source.health().await, Err(SourceError::Refused)));
    let scope = schemata_sources::IntrospectionScope::default();
    assert!(matches!(
        schemata_sources::introspect_all(&source, &scope).await,
        Err(SourceError::Refused)
    ));

    // A role that clears the marker for its own sessions does not hide the
    // database's own setting.
    let role = format!("r_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN; ALTER ROLE {role} SET schemata.instance = ''"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
    let mut as_role = url::Url::parse(&app.store.database_url).unwrap();
    as_role.set_username(&role).unwrap();
    as_role.set_password(None).unwrap();
    let config =
        SourceConfig::parse(SourceKind::Postgresql, &json!({"url": as_role.as_str()})).unwrap();
    let source = connect(
        SourceKind::Postgresql,
        &config,
        SourceLimits::default(),
        &policy,
    )
    .unwrap();
    let health = source.health().await;
    let read = schemata_sources::introspect_all(&source, &scope).await;
    let sample = source
        .sample(
            &schemata_core::SchemaObject::new("public", "connections", ObjectKind::Table),
            1,
        )
        .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(matches!(health, Err(SourceError::Refused)), "{health:?}");
    assert!(matches!(read, Err(SourceError::Refused)));
    assert!(matches!(sample, Err(SourceError::Refused)), "{sample:?}");

    // Any other database on the same server is a fine source.
    let other = source_database("CREATE TABLE t (id int);").await;
    let config = SourceConfig::parse(SourceKind::Postgresql, &json!({"url": other.url()})).unwrap();
    let source = connect(
        SourceKind::Postgresql,
        &config,
        SourceLimits::default(),
        &policy,
    )
    .unwrap();
    source.health().await.expect("another database is allowed");
}

#[tokio::test]
async fn the_test_endpoint_is_not_a_port_scanner() {
    let app = TestApp::spawn_with(|s| s.health_timeout = std::time::Duration::from_secs(1)).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = http.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut messages = Vec::new();
    for (name, port) in [
        ("closed", closed),
        ("http", http_port),
        ("silent", silent_port),
    ] {
        let id = app
            .create_connection(
                name,
                &format!("postgres://reader:secret@127.0.0.1:{port}/app"),
            )
            .await;
        messages.push(app.check_health(&id).await["message"].clone());
    }
    assert_eq!(
        messages,
        [
            json!("unreachable"),
            json!("unreachable"),
            json!("unreachable")
        ]
    );
}

#[tokio::test]
async fn denied_networks_are_refused_before_any_packet_is_sent() {
    let app = TestApp::spawn_with(|s| s.sources.policy = denying("127.0.0.0/8,::1/128")).await;
    let fake = FakePostgres::start(Behaviour::RejectPassword).await;
    for host in ["127.0.0.1", "localhost", "127.1.2.3", "[::ffff:127.0.0.1]"] {
        let id = app
            .create_connection(
                host,
                &format!("postgres://reader:secret@{host}:{}/app", fake.port),
            )
            .await;
        let health = app.check_health(&id).await;
        assert_eq!(health["message"], "refused by policy", "{host}: {health}");
    }
    assert_eq!(
        fake.connections(),
        0,
        "no connection reached the denied address"
    );
}

#[tokio::test]
async fn the_worker_applies_the_same_policy() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("local", &source).await;
    let mut settings = app.worker_settings();
    settings.sources.policy = denying("127.0.0.0/8");
    let worker = app.spawn_worker_with(settings);
    assert_eq!(
        app.request_refresh(&id).await.status(),
        202,
        "the API's policy allows it"
    );
    let status = app.wait_for_refresh(&id).await;
    worker.stop().await;
    assert_eq!(status["cache_status"], "error");
    assert_eq!(status["last_refresh_error"], "refused by policy");
    assert!(app.all_objects(&id).await.is_empty(), "nothing was read");
}
