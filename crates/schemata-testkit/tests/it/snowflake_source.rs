//! Snowflake sources against a real emulator (fakesnow in server mode,
//! spoken to over Snowflake's connector protocol): every type it has, views,
//! keys, mixed-case and quoted names, a 300-column table, a 2,000-table
//! catalog read in a fixed number of statements, results fetched as chunks,
//! key-pair logins, the access policy, and secrets that never show.

use schemata_sources::PolicySettings;
use schemata_testkit::{
    TestApp, fixture,
    snowflake::{FakeSnow, SnowflakeProxy, database_name},
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "Sn0wflake-Secret-4471";

fn configuration(endpoint: &str, database: &str) -> Value {
    json!({
        "account": "acme",
        "user": "loader",
        "password": PASSWORD,
        "warehouse": "COMPUTE_WH",
        "role": "SCHEMATA_READER",
        "database": database,
        "endpoint": endpoint,
    })
}

async fn object(app: &TestApp, id: &str, schema_id: &str) -> Value {
    let encoded =
        percent_encoding::utf8_percent_encode(schema_id, percent_encoding::NON_ALPHANUMERIC);
    let response = app
        .get(&format!("/api/connections/{id}/schemas/{encoded}"))
        .await;
    assert_eq!(response.status(), 200, "{schema_id}");
    response.json::<Value>().await.unwrap()["data"].clone()
}

fn field<'a>(object: &'a Value, name: &str) -> &'a Value {
    object["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {object}"))
}

/// Every log line of Schemata's own crates in this test process, from debug
/// up, from the first call on (the test binary runs many tests at once: this
/// is a superset of one test's lines).
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(buffer.clone());
        tracing_subscriber::fmt()
            .with_env_filter("schemata_sources=debug,schemata_worker=debug,schemata_api=debug,schemata_store=debug,warn")
            .with_writer(move || sink.clone())
            .try_init()
            .expect("no other subscriber in this test binary (unset TEST_LOG)");
        buffer
    })
    .clone()
}

#[tokio::test]
async fn a_snowflake_database_is_cached_with_its_types_views_keys_and_quoted_names() {
    let logs = capture_logs();
    let server = FakeSnow::shared().await;
    let database = database_name();
    let mut sql = fixture("snowflake/shop.sql");
    let wide: Vec<String> = (1..=300).map(|i| format!("C{i} NUMBER(10,2)")).collect();
    sql.push_str(&format!(
        "\nCREATE TABLE SALES.WIDE ({});\n",
        wide.join(", ")
    ));
    server.database(&database, &sql).await;
    let app = TestApp::spawn().await;
    let id = app
        .create_source(
            "warehouse",
            "snowflake",
            configuration(&server.endpoint, &database),
        )
        .await;
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["configuration"]["password"], "********");
    assert_eq!(shown["data"]["type"], "snowflake");
    assert_eq!(app.check_health(&id).await["health"], "healthy");

    let _worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    eprintln!("status: {}", serde_json::to_string_pretty(&status).unwrap());

    let listed: Value = app
        .get(&format!("/api/connections/{id}/schemas?limit=100"))
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "Mixed.\"T\"\"q\"",
            "Mixed.\"a.b\"",
            "SALES.BIG_ORDERS",
            "SALES.CUSTOMERS",
            "SALES.ORDERS",
            "SALES.WIDE",
        ]
    );

    let orders = object(&app, &id, "SALES.ORDERS").await;
    eprintln!(
        "SALES.ORDERS: {}",
        serde_json::to_string_pretty(&orders["fields"]).unwrap()
    );
    assert_eq!(orders["kind"], "table");
    assert_eq!(orders["primary_keys"], json!(["ID"]));
    for (name, remote, normalized) in [
        ("ID", "NUMBER(38,0)", "integer"),
        ("CUSTOMER_ID", "NUMBER(10,0)", "integer"),
        ("TOTAL", "NUMBER(12,2)", "number"),
        ("RATE", "FLOAT", "number"),
        ("PAID", "BOOLEAN", "boolean"),
        ("PLACED", "DATE", "date"),
        ("AT_TIME", "TIME", "time"),
        ("PLACED_AT", "TIMESTAMP_TZ", "datetime"),
        ("META", "VARIANT", "json"),
        ("RECEIPT", "BINARY", "binary"),
        ("CODE", "VARCHAR", "string"),
    ] {
        let f = field(&orders, name);
        assert_eq!(f["remote_type"], remote, "{name}: {f}");
        assert_eq!(f["type"], normalized, "{name}: {f}");
    }
    assert_eq!(field(&orders, "ID")["nullable"], false);
    assert_eq!(field(&orders, "ID")["is_primary_key"], true);
    assert_eq!(field(&orders, "TOTAL")["nullable"], true);
    assert_eq!(field(&orders, "TOTAL")["default"], "0");
    let customers = object(&app, &id, "SALES.CUSTOMERS").await;
    assert_eq!(customers["comment"], "people who buy");
    assert_eq!(field(&customers, "EMAIL")["remote_type"], "VARCHAR(320)");
    assert_eq!(customers["properties"]["transient"], false);
    let view = object(&app, &id, "SALES.BIG_ORDERS").await;
    assert_eq!(view["kind"], "view");
    assert_eq!(view["fields"].as_array().unwrap().len(), 2);
    let quoted = object(&app, &id, "Mixed.\"a.b\"").await;
    assert_eq!(quoted["schema"], "Mixed");
    assert_eq!(quoted["name"], "a.b");
    assert_eq!(field(&quoted, "q\"c")["type"], "string");
    let wide = object(&app, &id, "SALES.WIDE").await;
    assert_eq!(wide["fields"].as_array().unwrap().len(), 300);
    assert_eq!(wide["fields"][299]["name"], "C300");

    // A sample, each value in the cached type, numbers exact.
    let sample: Value = app
        .get(&format!(
            "/api/connections/{id}/schemas/SALES.ORDERS/records?limit=5"
        ))
        .await
        .json()
        .await
        .unwrap();
    let row = &sample["data"][0];
    assert!(row.is_object(), "{sample}");
    assert_eq!(row["ID"], json!(12345678901234567_i64), "{row}");
    assert_eq!(
        row["BIG"],
        json!(9007199254740993_i64),
        "exact, past a double: {row}"
    );
    assert_eq!(row["CUSTOMER_ID"], json!(1));
    assert_eq!(row["TOTAL"], json!(123.45));
    assert_eq!(row["PAID"], json!(true));
    assert_eq!(row["PLACED"], json!("2026-11-30"));
    assert_eq!(row["META"], json!({"gift": true}));
    assert_eq!(row["LINES"], json!([1, 2]));
    assert_eq!(row["RECEIPT"], json!("3q2+7w=="));
    assert_eq!(row["CODE"], json!("EUR"));
    assert!(
        row["PLACED_AT"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-30T10:11:12.123456"),
        "{row}"
    );
    assert!(
        row["AT_TIME"].as_str().unwrap().starts_with("10:11:12"),
        "{row}"
    );

    // The password shows in no response and no log line.
    for path in [
        format!("/api/connections/{id}"),
        format!("/api/connections/{id}/schemas/status"),
        "/api/connections".to_owned(),
    ] {
        let text = app.get(&path).await.text().await.unwrap();
        assert!(!text.contains(PASSWORD), "{path}: {text}");
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(logged.contains("refresh"), "the logs were captured");
    assert!(!logged.contains(PASSWORD), "the password was logged");
}

#[tokio::test]
async fn a_catalog_of_2000_tables_is_read_in_a_fixed_number_of_statements() {
    let server = FakeSnow::shared().await;
    let database = database_name();
    let mut sql = String::new();
    for schema in ["S1", "S2", "S3", "S4"] {
        sql.push_str(&format!("CREATE SCHEMA {schema};\n"));
        for t in 0..500 {
            sql.push_str(&format!(
                "CREATE TABLE {schema}.ITEM_{t} (ID NUMBER(10,0) PRIMARY KEY, NAME VARCHAR(50));\n"
            ));
        }
    }
    server.database(&database, &sql).await;
    let proxy = SnowflakeProxy::start(&server.endpoint, false).await;
    let app = TestApp::spawn().await;
    let id = app
        .create_source(
            "big",
            "snowflake",
            configuration(&proxy.endpoint, &database),
        )
        .await;
    let _worker = app.spawn_worker();
    proxy.forget();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_result"]["objects_read"], 2000, "{status}");
    let traffic = proxy.traffic();
    eprintln!(
        "statements of one refresh of 2,000 tables: {:#?}",
        traffic.statements
    );
    // The health gate's `SHOW TERSE SCHEMAS`, then the refresh: TABLES, SHOW
    // VIEWS, three `SHOW … KEYS` (per schema here: fakesnow has no `IN
    // DATABASE`), COLUMNS. None names a table.
    assert!(
        traffic.statements.len() <= 1 + 2 + 3 * (1 + 4) + 1,
        "{:#?}",
        traffic.statements
    );
    assert!(
        traffic.statements.iter().all(|s| !s.contains("ITEM_")),
        "{:#?}",
        traffic.statements
    );
    assert_eq!(
        traffic
            .statements
            .iter()
            .filter(|s| s.contains("INFORMATION_SCHEMA.COLUMNS"))
            .count(),
        1
    );
    let one = object(&app, &id, "S3.ITEM_499").await;
    assert_eq!(one["primary_keys"], json!(["ID"]));
}

#[tokio::test]
async fn results_in_chunks_are_fetched_with_their_headers_and_never_the_session_token() {
    let server = FakeSnow::shared().await;
    let database = database_name();
    server
        .database(&database, &fixture("snowflake/shop.sql"))
        .await;
    let proxy = SnowflakeProxy::start(&server.endpoint, true).await;
    let app = TestApp::spawn().await;
    let id = app
        .create_source(
            "chunked",
            "snowflake",
            configuration(&proxy.endpoint, &database),
        )
        .await;
    let _worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    assert_eq!(status["last_result"]["objects_read"], 5, "{status}");
    let orders = object(&app, &id, "SALES.ORDERS").await;
    assert_eq!(field(&orders, "TOTAL")["remote_type"], "NUMBER(12,2)");
    let sample: Value = app
        .get(&format!(
            "/api/connections/{id}/schemas/SALES.CUSTOMERS/records"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sample["data"][0]["EMAIL"], "ada@example.com", "{sample}");
    let chunks = proxy.traffic().chunk_requests;
    assert!(chunks.len() >= 4, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|(_, header, authorized)| *header && !*authorized),
        "every chunk with its header and without the token: {chunks:?}"
    );
}

#[tokio::test]
async fn a_key_pair_signs_in_with_snowflakes_jwt() {
    let server = FakeSnow::shared().await;
    let database = database_name();
    server
        .database(&database, "CREATE SCHEMA S;\nCREATE TABLE S.T (ID INT);")
        .await;
    let proxy = SnowflakeProxy::start(&server.endpoint, false).await;
    let app = TestApp::spawn().await;
    let key = include_str!("../../../schemata-sources/src/snowflake/testdata/rsa_key_encrypted.p8");
    let id = app
        .create_source(
            "keyed",
            "snowflake",
            json!({"account": "xy12345.eu-west-1", "user": "loader", "database": database,
                   "private_key": key, "private_key_passphrase": "correct-horse",
                   "endpoint": proxy.endpoint}),
        )
        .await;
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["configuration"]["private_key"], "********");
    assert_eq!(
        shown["data"]["configuration"]["private_key_passphrase"],
        "********"
    );
    assert_eq!(app.check_health(&id).await["health"], "healthy");
    let login = proxy.traffic().login_bodies.pop().expect("a login");
    let data = &login["data"];
    assert_eq!(data["AUTHENTICATOR"], "SNOWFLAKE_JWT");
    assert_eq!(data["ACCOUNT_NAME"], "XY12345");
    assert!(data.get("PASSWORD").is_none(), "{login}");
    let token = data["TOKEN"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "XY12345.LOADER");
    assert_eq!(
        claims["iss"],
        "XY12345.LOADER.SHA256:lhbIpPFAfxv6VHKQL86bHCK+tBKsTicC1mwj1sd4pcg="
    );
    assert!(!login.to_string().contains("correct-horse"));

    // A passphrase that does not open the key: a clear configuration error.
    let response = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"account": "xy12345.eu-west-1", "user": "loader",
                "database": database, "private_key": "********",
                "private_key_passphrase": "wrong", "endpoint": proxy.endpoint}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("private_key_passphrase"),
        "{health}"
    );
}

#[tokio::test]
async fn a_denied_endpoint_is_refused_before_any_packet_and_strangers_are_unreachable() {
    // A listener on an address the policy denies: it must see no connection.
    let denied = tokio::net::TcpListener::bind("127.0.0.3:0").await.unwrap();
    let denied_port = denied.local_addr().unwrap().port();
    let knocked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let knocks = knocked.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = denied.accept().await {
            knocks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let app = TestApp::spawn_with(|s| {
        s.sources.policy = PolicySettings {
            deny_networks: PolicySettings::parse_networks("10.0.0.0/8,127.0.0.3/32").unwrap(),
            ..PolicySettings::local_development()
        };
        s.health_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    for (n, endpoint) in [
        "https://10.1.2.3:8443".to_owned(),
        format!("https://127.0.0.3:{denied_port}"),
    ]
    .iter()
    .enumerate()
    {
        let id = app
            .create_source(
                &format!("denied-{n}"),
                "snowflake",
                configuration(endpoint, "DB"),
            )
            .await;
        let health = app.check_health(&id).await;
        assert_eq!(
            health["message"], "refused by policy",
            "{endpoint}: {health}"
        );
    }
    assert_eq!(
        knocked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no packet reached it"
    );

    // A listener on loopback that answers like some other web server.
    let stranger = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stranger.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = stranger.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 23\r\n\r\n<h1>internal admin</h1>")
                .await;
        }
    });
    let other = app
        .create_source(
            "other",
            "snowflake",
            configuration(&format!("http://127.0.0.1:{port}"), "DB"),
        )
        .await;
    let health = app.check_health(&other).await;
    assert_eq!(health["message"], "unreachable", "{health}");
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

/// A hostile "Snowflake" that answers every query with "still running, poll
/// there", where there is another host: the poll would carry the session
/// token past the access policy. It is refused before any packet leaves.
#[tokio::test]
async fn a_result_url_on_another_host_is_refused_and_the_token_never_leaves() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    // What the attacker wants reached: a listener on a denied address.
    let denied = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let denied_port = denied.local_addr().unwrap().port();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = denied.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for target in [
        format!("//127.0.0.2:{denied_port}/queries/x/result"),
        format!("/\\127.0.0.2:{denied_port}/queries/x/result"),
        format!("http://127.0.0.2:{denied_port}/queries/x/result"),
    ] {
        let answer = json!({"success": true, "code": "333334", "data": {"getResultUrl": target}});
        let server = HttpServer::new(move || {
            let answer = answer.clone();
            App::new()
                .route(
                    "/session/v1/login-request",
                    web::post().to(|| async {
                        HttpResponse::Ok()
                            .json(json!({"success": true, "data": {"token": "TOKEN-secret"}}))
                    }),
                )
                .route(
                    "/queries/v1/query-request",
                    web::post().to(move || {
                        let answer = answer.clone();
                        async move { HttpResponse::Ok().json(answer) }
                    }),
                )
                .default_service(web::to(|| async {
                    HttpResponse::Ok().json(json!({"success": true}))
                }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        let app = TestApp::spawn_with(|s| {
            s.sources.policy = PolicySettings {
                deny_networks: PolicySettings::parse_networks("127.0.0.2/32").unwrap(),
                ..PolicySettings::local_development()
            };
        })
        .await;
        let id = app
            .create_source(
                "hostile",
                "snowflake",
                configuration(&format!("http://127.0.0.1:{port}"), "DB"),
            )
            .await;
        let health = app.check_health(&id).await;
        assert_eq!(health["health"], "unhealthy", "{target}: {health}");
        assert!(
            health["message"].as_str().unwrap().contains("another host"),
            "{target}: {health}"
        );
    }
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the denied address"
    );
}
