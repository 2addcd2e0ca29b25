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
        ..PolicySettings::local_development()
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
        &PolicySettings::local_development(),
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

/// Out of the box (no policy setting in the environment) a tenant reaches
/// neither this machine's loopback nor Schemata's own server: organization
/// B's connection to organization A's source database on that server, the
/// review's attack, is refused before anything is read, and so are webhooks
/// and DynamoDB endpoints on loopback.
#[tokio::test]
async fn out_of_the_box_a_tenant_reaches_neither_loopback_nor_our_own_server() {
    let app = TestApp::spawn_with(|s| {
        s.sources.policy = PolicySettings {
            sqlite_root: None,
            ..PolicySettings::default()
        };
    })
    .await;
    let tenant_a = source_database(
        "CREATE TABLE secrets (id int PRIMARY KEY, card text);
         INSERT INTO secrets VALUES (1, '4111 1111 1111 1111');",
    )
    .await;
    let tenant_b = app.key_for("beta", &schemata_core::Scope::ALL).await;
    let create = app
        .client
        .post(app.url("/api/connections"))
        .bearer_auth(&tenant_b)
        .json(&json!({"name": "not-mine", "type": "postgresql",
                      "configuration": {"url": tenant_a.url()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
    let id = create.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let health = app
        .client
        .post(app.url(&format!("/api/connections/{id}/test")))
        .bearer_auth(&tenant_b)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(health["data"]["health"], "unhealthy", "{health}");
    assert_eq!(health["data"]["message"], "refused by policy");

    let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    let webhook = app
        .post(
            "/api/webhooks",
            &json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["refresh.finished"]}),
        )
        .await;
    assert_eq!(webhook.status(), 400, "a webhook to loopback is refused");

    let dynamodb = app
        .create_source(
            "local-dynamo",
            "dynamodb",
            json!({"region": "eu-west-1", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cret",
                   "endpoint": format!("http://127.0.0.1:{port}")}),
        )
        .await;
    assert_eq!(
        app.check_health(&dynamodb).await["message"],
        "refused by policy"
    );
    assert_eq!(app.runs_and_jobs().await, (0, 0), "nothing was queued");
}

/// Reached by an address the policy does not know as ours (here: a policy
/// told our database lives elsewhere), our server is still recognised: its
/// Schemata database's marker is in a catalog every database of the server
/// shares. Organization B cannot reach A's database there by another address.
#[tokio::test]
async fn our_own_server_is_recognised_by_its_marker_whatever_the_address() {
    let _app = TestApp::spawn().await;
    let other = source_database("CREATE TABLE t (id int);").await;
    let config = SourceConfig::parse(SourceKind::Postgresql, &json!({"url": other.url()})).unwrap();
    for (allowed, refused) in [(false, true), (true, false)] {
        let settings = PolicySettings {
            deny_networks: vec![],
            deny_host_addresses: false,
            allow_sources_on_own_server: allowed,
            ..PolicySettings::default()
        };
        let policy = AccessPolicy::build(&settings, "postgres://postgres@10.9.9.9:6543/elsewhere")
            .await
            .unwrap();
        let source = connect(
            SourceKind::Postgresql,
            &config,
            SourceLimits::default(),
            &policy,
        )
        .unwrap();
        let health = source.health().await;
        let scope = schemata_sources::IntrospectionScope::default();
        let read = schemata_sources::introspect_all(&source, &scope).await;
        if refused {
            assert!(matches!(health, Err(SourceError::Refused)), "{health:?}");
            assert!(matches!(read, Err(SourceError::Refused)));
        } else {
            health.expect("allowed by the operator");
            read.expect("allowed by the operator");
        }
    }
}

/// Schemata's own server is refused as a whole unless the operator allows
/// it, whatever the denied networks say; its own database always is.
#[tokio::test]
async fn our_own_server_is_a_source_only_where_the_operator_allows_it() {
    let app = TestApp::spawn().await;
    let other = source_database("CREATE TABLE t (id int);").await;
    let config = SourceConfig::parse(SourceKind::Postgresql, &json!({"url": other.url()})).unwrap();
    let fake = FakePostgres::start(Behaviour::RejectPassword).await;
    let elsewhere = SourceConfig::parse(
        SourceKind::Postgresql,
        &json!({"url": format!("postgres://reader:secret@127.0.0.1:{}/app", fake.port)}),
    )
    .unwrap();
    for (allowed, expected) in [(false, "refused"), (true, "healthy")] {
        let settings = PolicySettings {
            deny_networks: vec![],
            deny_host_addresses: false,
            allow_sources_on_own_server: allowed,
            ..PolicySettings::default()
        };
        let policy = AccessPolicy::build(&settings, &app.store.database_url)
            .await
            .unwrap();
        let source = connect(
            SourceKind::Postgresql,
            &config,
            SourceLimits::default(),
            &policy,
        )
        .unwrap();
        let health = source.health().await;
        match expected {
            "refused" => assert!(matches!(health, Err(SourceError::Refused)), "{health:?}"),
            _ => health.expect("allowed by the operator"),
        }
        // Another server on the same host is not ours: it is reached (and
        // answers for itself).
        let fake_source = connect(
            SourceKind::Postgresql,
            &elsewhere,
            SourceLimits::default(),
            &policy,
        )
        .unwrap();
        assert!(
            matches!(fake_source.health().await, Err(SourceError::Rejected(_))),
            "another port is another server"
        );
    }
}

/// A DynamoDB endpoint is the tenant's to choose: a server there that is not
/// DynamoDB reads as "unreachable", exactly as a closed port does, and
/// nothing it answered reaches the health message.
#[tokio::test]
async fn a_dynamodb_endpoint_that_is_not_dynamodb_reads_as_unreachable() {
    let app = TestApp::spawn_with(|s| s.health_timeout = std::time::Duration::from_secs(1)).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let answering = |answer: &'static [u8]| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                let _ = socket.write_all(answer).await;
            }
        });
        port
    };
    let json_error = answering(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n{\"message\": \"internal admin token t0k3n!!\"}",
    )
    .await;
    let html = answering(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n\r\n<h1>intranet wiki home</h1>",
    )
    .await;
    let other_json = answering(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"secret\": \"t0k3n\"}",
    )
    .await;
    let not_http = answering(b"\x4a\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00").await;
    let mut messages = Vec::new();
    for (name, port) in [
        ("closed", closed),
        ("json", json_error),
        ("html", html),
        ("other-json", other_json),
        ("not-http", not_http),
    ] {
        let id = app
            .create_source(
                name,
                "dynamodb",
                json!({"region": "eu-west-1", "access_key_id": "AKIAEXAMPLE",
                       "secret_access_key": "s3cret", "endpoint": format!("http://127.0.0.1:{port}")}),
            )
            .await;
        messages.push(app.check_health(&id).await["message"].clone());
    }
    assert_eq!(messages, vec![json!("unreachable"); 5], "{messages:?}");
}
