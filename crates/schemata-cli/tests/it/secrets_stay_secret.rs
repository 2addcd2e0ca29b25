//! The API and the worker, as real processes, with the operator's database
//! credentials all over their environment: tenant connections never use them,
//! never send them, and no secret of anyone reaches a log line.

use schemata_core::Scope;
use schemata_store::{SecretBox, api_keys, organizations};
use schemata_testkit::{
    ServiceProcess,
    fake_postgres::{Behaviour, FakePostgres},
    migrated_database, mysql_database, source_database,
    webhook_receiver::WebhookReceiver,
};
use serde_json::{Value, json};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// Secrets planted in the environment and in files the drivers know about.
const ENVIRONMENT_SECRETS: [(&str, &str); 3] = [
    ("PGPASSWORD", "EnvPassword-Leak-1"),
    ("MYSQL_PWD", "MysqlPwd-Leak-4"),
    ("PGUSER", "env-user-Leak"),
];
const PASSFILE_SECRET: &str = "PassfilePassword-Leak-2";
const HOME_PASSFILE_SECRET: &str = "HomePassfile-Leak-3";
const MY_CNF_SECRET: &str = "MyCnf-Leak-8";
/// Secrets tenants give Schemata for their own sources, and a webhook URL's token.
const TENANT_SECRETS: [&str; 4] = [
    "Tenant-Secret-5",
    "Param-Secret-6",
    "LogLeak-123",
    "HookToken-9",
];

fn private_file(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn tenant_connections_ignore_the_process_environment_and_no_secret_is_logged() {
    let (database, pool) = migrated_database().await;
    let organization = organizations::ensure(&pool, "acme").await.unwrap();
    let key = api_keys::create(&pool, organization.id, "test", &Scope::ALL)
        .await
        .unwrap()
        .secret;
    let dir = std::env::temp_dir().join(format!("schemata-secrets-{}", uuid::Uuid::new_v4()));
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    private_file(
        &home.join(".pgpass"),
        &format!("*:*:*:*:{HOME_PASSFILE_SECRET}\n"),
    );
    private_file(
        &home.join(".my.cnf"),
        &format!("[client]\npassword={MY_CNF_SECRET}\n"),
    );
    let passfile = dir.join("passfile");
    private_file(&passfile, &format!("*:*:*:*:{PASSFILE_SECRET}\n"));

    // A proxy in the environment would resolve webhook hosts itself, after
    // the access policy checked them: deliveries must never go through it.
    let proxy = WebhookReceiver::start().await;
    let mut env: Vec<(String, String)> = vec![
        ("HTTP_PROXY".into(), proxy.url("")),
        ("http_proxy".into(), proxy.url("")),
        ("HTTPS_PROXY".into(), proxy.url("")),
        ("ALL_PROXY".into(), proxy.url("")),
        // Our own database: explicit, without TLS, so the planted client
        // certificate paths below cannot matter to it.
        (
            "DATABASE_URL".into(),
            format!("{}?sslmode=disable", database.url()),
        ),
        (
            "SCHEMATA_ENCRYPTION_KEY".into(),
            SecretBox::generate_key_hex(),
        ),
        ("SCHEMATA_API_PORT".into(), "0".into()),
        ("SCHEMATA_WORKER_OPS_PORT".into(), "0".into()),
        ("SCHEMATA_LOG_FORMAT".into(), "json".into()),
        ("RUST_LOG".into(), "debug".into()),
        ("HOME".into(), home.display().to_string()),
        ("PGPASSFILE".into(), passfile.display().to_string()),
        ("PGSSLCERT".into(), "/nonexistent/client.crt".into()),
        ("PGSSLKEY".into(), "/nonexistent/client.key".into()),
        ("PGSSLROOTCERT".into(), "/nonexistent/root.crt".into()),
        ("PGDATABASE".into(), "env-database".into()),
        ("PGOPTIONS".into(), "-c work_mem=7777kB".into()),
    ];
    env.extend(
        ENVIRONMENT_SECRETS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let binary = Path::new(env!("CARGO_BIN_EXE_schemata"));
    let mut api = ServiceProcess::spawn(binary, "api", &env, dir.join("api.log"));
    let mut worker = ServiceProcess::spawn(binary, "worker", &env, dir.join("worker.log"));
    let port = api.wait_for_line("schemata-api listening").await["port"]
        .as_u64()
        .unwrap();
    worker.wait_for_line("schemata-worker started").await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let call = async |method: &str, path: &str, body: Option<Value>| -> (u16, Value) {
        let mut request = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(&key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    };
    let create = async |name: &str, configuration: Value| -> (u16, Value) {
        call(
            "POST",
            "/api/connections",
            Some(json!({"name": name, "type": "postgresql", "configuration": configuration})),
        )
        .await
    };

    let fake = FakePostgres::start(Behaviour::AcceptAnyPassword { stall_on: None }).await;
    let (status, created) = create(
        "no-password",
        json!({"url": format!("postgres://tenant-user@127.0.0.1:{}/tenantdb", fake.port)}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let no_password = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, created) = create(
        "with-password",
        json!({"host": "127.0.0.1", "port": fake.port, "user": "tenant-user", "password": TENANT_SECRETS[0]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let with_password = created["data"]["id"].as_str().unwrap().to_owned();
    let source = source_database("CREATE TABLE orders (id int PRIMARY KEY);").await;
    let (status, created) = create(
        "real-source",
        json!({"url": format!("{}?password={}", source.url(), TENANT_SECRETS[1])}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let real = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, refused) = create(
        "sneaky",
        json!({"url": format!("postgres://u@127.0.0.1:{}/db?sslpassword={}", fake.port, TENANT_SECRETS[2])}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");

    let receiver = WebhookReceiver::start().await;
    let hook_path = format!("/hook?token={}", TENANT_SECRETS[3]);
    let (status, hook) = call(
        "POST",
        "/api/webhooks",
        Some(json!({"url": receiver.url(&hook_path), "events": ["refresh.finished"]})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    assert!(!hook.to_string().contains(TENANT_SECRETS[3]), "{hook}");

    for id in [&no_password, &with_password, &real] {
        let (status, health) = call("POST", &format!("/api/connections/{id}/test"), None).await;
        assert_eq!(status, 200);
        assert_eq!(health["data"]["health"], "healthy", "{id}: {health}");
    }
    let (status, _) = call(
        "POST",
        &format!("/api/connections/{real}/schemas/refresh"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = call(
        "POST",
        &format!("/api/connections/{with_password}/schemas/refresh"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    for id in [&real, &with_password] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = call(
                "GET",
                &format!("/api/connections/{id}/schemas/status"),
                None,
            )
            .await;
            if status["data"]["cache_status"] != "refreshing" {
                break;
            }
            assert!(Instant::now() < deadline, "refresh of {id} did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (_, fresh) = call(
        "GET",
        &format!("/api/connections/{real}/schemas/status"),
        None,
    )
    .await;
    assert_eq!(fresh["data"]["cache_status"], "fresh", "{fresh}");
    let delivered = receiver.wait_for(2).await;
    assert!(delivered.iter().all(|r| r.target == hook_path));
    assert!(
        proxy.received().is_empty(),
        "a delivery went through the environment's proxy"
    );

    // What the tenants' server saw: their user and database, their password or
    // none, never the operator's.
    let sessions = fake.sessions();
    assert!(sessions.len() >= 3, "{sessions:?}");
    for session in &sessions {
        assert_eq!(session.parameter("user"), Some("tenant-user"));
        assert!(
            !session
                .parameter("options")
                .unwrap_or_default()
                .contains("7777")
        );
        assert!(session.parameter("database") != Some("env-database"));
        let password = session.password.as_deref().unwrap_or_default();
        assert!(
            password.is_empty() || password == TENANT_SECRETS[0],
            "sent `{password}`"
        );
    }
    assert!(sessions.iter().any(|s| s.password.as_deref() == Some("")));
    assert!(
        sessions
            .iter()
            .any(|s| s.password.as_deref() == Some(TENANT_SECRETS[0]))
    );

    // MariaDB: users whose passwords are the operator's MYSQL_PWD and the one
    // in ~/.my.cnf. A tenant connection naming them without a password must
    // be refused by the server: had either password been sent, it would pass.
    let mariadb = mysql_database("CREATE TABLE t (id int)").await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let probes = [
        (format!("env_{suffix}"), ENVIRONMENT_SECRETS[1].1),
        (format!("cnf_{suffix}"), MY_CNF_SECRET),
    ];
    for (user, password) in &probes {
        mariadb
            .execute(&format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';
                 GRANT SELECT ON `{}`.* TO '{user}'@'%'",
                mariadb.name()
            ))
            .await;
    }
    let server = url::Url::parse(mariadb.server_url()).unwrap();
    for (user, _) in &probes {
        let (status, created) = call(
            "POST",
            "/api/connections",
            Some(
                json!({"name": user, "type": "mysql", "configuration": {"url": format!(
                    "mysql://{user}@{}:{}/{}",
                    server.host_str().unwrap(),
                    server.port().unwrap_or(3306),
                    mariadb.name()
                )}}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let (_, health) = call("POST", &format!("/api/connections/{id}/test"), None).await;
        assert_eq!(health["data"]["health"], "unhealthy", "{user}: {health}");
        assert!(
            health["data"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Access denied"),
            "{health}"
        );
    }
    // The same user with its password given is let in: the refusals above
    // are the missing password, nothing else.
    let (user, password) = &probes[0];
    let (status, created) = call(
        "POST",
        "/api/connections",
        Some(
            json!({"name": "with-its-password", "type": "mysql", "configuration": {
            "host": server.host_str().unwrap(), "port": server.port().unwrap_or(3306),
            "user": user, "password": password, "database": mariadb.name()}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (_, health) = call("POST", &format!("/api/connections/{id}/test"), None).await;
    assert_eq!(health["data"]["health"], "healthy", "{health}");
    for (user, _) in &probes {
        mariadb.execute(&format!("DROP USER '{user}'@'%'")).await;
    }

    api.terminate();
    worker.terminate();
    let logs = format!("{}\n{}", api.log(), worker.log());
    assert!(
        logs.contains("request served") && logs.contains(&real),
        "the logs were captured"
    );
    assert!(
        logs.contains("refresh complete"),
        "the worker's logs were captured"
    );
    let planted = ENVIRONMENT_SECRETS
        .iter()
        .map(|(_, secret)| *secret)
        .chain([PASSFILE_SECRET, HOME_PASSFILE_SECRET, MY_CNF_SECRET])
        .chain(TENANT_SECRETS);
    for secret in planted {
        let leak = logs.lines().find(|line| line.contains(secret));
        assert!(leak.is_none(), "`{secret}` reached a log line: {leak:?}");
    }
    eprintln!(
        "scanned {} log lines of the API and the worker: no secret found",
        logs.lines().count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
