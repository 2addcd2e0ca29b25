//! Stored passwords never leave in clear and never go anywhere new. The
//! exfiltration attempts of the security review, replayed against a fake
//! PostgreSQL server that asks for a cleartext password and records it.

use schemata_testkit::{
    PROTECTED_PASSWORD, TestApp,
    fake_postgres::{Behaviour, FakePostgres},
    protected_database,
};
use serde_json::{Value, json};

async fn error_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_password_given_anywhere_is_sealed_and_only_ever_shown_as_stars() {
    let app = TestApp::spawn().await;
    let bodies = [
        json!({"url": "postgres://reader@127.0.0.1:1/app?password=hunter2-qs"}),
        json!({"url": "postgres://reader:hunter2-userinfo@127.0.0.1:1/app"}),
        json!({"host": "127.0.0.1", "port": 1, "user": "reader", "password": "hunter2-field"}),
    ];
    for (n, configuration) in bodies.iter().enumerate() {
        let created = app
            .post(
                "/api/connections",
                &json!({"name": format!("c{n}"), "type": "postgresql", "configuration": configuration}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let text = created.text().await.unwrap();
        assert!(
            !text.contains("hunter2"),
            "create echoed a password: {text}"
        );
        assert!(text.contains("********"), "{text}");
    }
    let listed = app.get("/api/connections").await.text().await.unwrap();
    assert!(!listed.contains("hunter2"), "{listed}");
    let (shown, sealed): (Vec<Value>, Vec<Vec<u8>>) = {
        let rows: Vec<(Value, Vec<u8>)> =
            sqlx::query_as("SELECT configuration, secret FROM connections")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        rows.into_iter().unzip()
    };
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|c| !c.to_string().contains("hunter2")));
    assert!(
        sealed
            .iter()
            .all(|s| !String::from_utf8_lossy(s).contains("hunter2"))
    );
    assert_eq!(
        shown[0]["url"], "postgres://reader:********@127.0.0.1:1/app",
        "a password= parameter moves into the sealed password"
    );
}

#[tokio::test]
async fn dangerous_or_unknown_url_parameters_are_refused_by_name() {
    let app = TestApp::spawn().await;
    for parameter in [
        "host=/var/run/postgresql",
        "hostaddr=10.0.0.1",
        "port=5433",
        "passfile=/root/.pgpass",
        "sslkey=/etc/ssl/private/key.pem",
        "sslcert=/etc/ssl/cert.pem",
        "sslrootcert=/etc/ssl/root.pem",
        "options=-c%20default_transaction_read_only%3Doff",
        "sslpassword=LogLeak-123",
        "target_session_attrs=any",
    ] {
        let name = parameter.split('=').next().unwrap();
        let response = app
            .post(
                "/api/connections",
                &json!({"name": "x", "type": "postgresql",
                        "configuration": {"url": format!("postgres://reader@db.example.com/app?{parameter}")}}),
            )
            .await;
        let message = error_of(response, 400).await;
        assert!(
            message.contains(&format!("`{name}`")),
            "{parameter}: {message}"
        );
        assert!(
            message.contains("Allowed: "),
            "the allowlist is named: {message}"
        );
        assert!(
            !message.contains("LogLeak"),
            "values are never echoed: {message}"
        );
    }
    for url in [
        "postgres://reader@%2Fvar%2Frun%2Fpostgresql/app",
        "postgres:///app?user=reader",
    ] {
        let response = app
            .post(
                "/api/connections",
                &json!({"name": "x", "type": "postgresql", "configuration": {"url": url}}),
            )
            .await;
        assert!(error_of(response, 400).await.contains("host"), "{url}");
    }
    assert_eq!(app.runs_and_jobs().await, (0, 0));
}

/// The review's replay: keep `********`, move the host to a server that asks
/// for a cleartext password, then `POST …/test`.
#[tokio::test]
async fn the_placeholder_never_carries_a_stored_password_to_another_server() {
    let app = TestApp::spawn().await;
    let attacker = FakePostgres::start(Behaviour::RejectPassword).await;
    let source = protected_database("src").await;
    let id = app.create_connection("victim", &source).await;
    assert_eq!(app.check_health(&id).await["health"], "healthy");
    let path = format!("/api/connections/{id}");

    let moves = [
        json!({"url": format!("postgres://postgres:********@127.0.0.1:{}/{}", attacker.port, source.name())}),
        json!({"host": "127.0.0.1", "port": attacker.port, "user": "postgres", "password": "********", "database": source.name()}),
        json!({"url": format!("postgres://admin:********@127.0.0.1:{}/{}", source.server().server_url.rsplit(':').next().unwrap(), source.name())}),
        json!({"url": format!("postgres://postgres:********@{}/other", source.server().server_url.rsplit('@').next().unwrap())}),
    ];
    let verified = app
        .create_connection(
            "verified",
            &format!(
                "postgres://reader:Verified-Pw@127.0.0.1:{}/app?sslmode=verify-full",
                attacker.port
            ),
        )
        .await;
    let downgrade = app
        .patch(
            &format!("/api/connections/{verified}"),
            &json!({"configuration": {"url": format!("postgres://reader:********@127.0.0.1:{}/app?sslmode=disable", attacker.port)}}),
        )
        .await;
    let message = error_of(downgrade, 400).await;
    assert!(
        message.contains("send the password again")
            && message.contains("the new sslmode is weaker than the stored one"),
        "a weaker sslmode never inherits a password stored for verify-full, and says why: {message}"
    );
    for configuration in moves {
        let message = error_of(
            app.patch(&path, &json!({"configuration": configuration}))
                .await,
            400,
        )
        .await;
        assert!(message.contains("send the password again"), "{message}");
    }
    let shown: Value = app.get(&path).await.json().await.unwrap();
    assert!(
        !shown["data"]["configuration"]["url"]
            .as_str()
            .unwrap()
            .contains(&attacker.port.to_string())
    );
    assert_eq!(
        app.check_health(&id).await["health"],
        "healthy",
        "still the original server"
    );
    assert_eq!(
        attacker.connections(),
        0,
        "nothing ever reached the other server"
    );

    // Moving the connection with a password its owner types again is fine, and
    // only that password is sent.
    let moved = app
        .patch(
            &path,
            &json!({"configuration": {"url": format!("postgres://postgres:typed-again@127.0.0.1:{}/app", attacker.port)}}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert_eq!(attacker.passwords(), ["typed-again"]);
    assert!(!attacker.passwords().iter().any(|p| p == PROTECTED_PASSWORD));
}

#[tokio::test]
async fn the_placeholder_keeps_the_stored_password_for_the_same_server() {
    let app = TestApp::spawn().await;
    let source = protected_database("src").await;
    let id = app.create_connection("kept", &source).await;
    let path = format!("/api/connections/{id}");
    let shown: Value = app.get(&path).await.json().await.unwrap();
    let redacted = shown["data"]["configuration"].clone();
    assert!(redacted["url"].as_str().unwrap().contains(":********@"));

    // The server checks passwords (SCRAM): healthy proves the stored one was kept.
    let kept = app
        .patch(
            &path,
            &json!({"name": "renamed", "configuration": redacted}),
        )
        .await;
    assert_eq!(kept.status(), 200);
    assert_eq!(app.check_health(&id).await["health"], "healthy");
    let with_tls_setting = redacted["url"].as_str().unwrap().to_owned() + "?sslmode=prefer";
    let kept = app
        .patch(&path, &json!({"configuration": {"url": with_tls_setting}}))
        .await;
    assert_eq!(
        kept.status(),
        200,
        "settings other than the place may change"
    );
    assert_eq!(app.check_health(&id).await["health"], "healthy");

    // And the check can fail: a wrong password is refused by the same server.
    let wrong = redacted["url"]
        .as_str()
        .unwrap()
        .replace("********", "not-it");
    assert_eq!(
        app.patch(&path, &json!({"configuration": {"url": wrong}}))
            .await
            .status(),
        200
    );
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("password authentication failed"),
        "{health}"
    );
}

#[tokio::test]
async fn the_placeholder_is_refused_where_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let create = app
        .post(
            "/api/connections",
            &json!({"name": "x", "type": "postgresql", "configuration": {"url": "postgres://u:********@db.example.com/app"}}),
        )
        .await;
    assert!(error_of(create, 400).await.contains("real password"));
    let id = app
        .create_connection("nopass", "postgres://u@db.example.com/app")
        .await;
    let patch = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"url": "postgres://u:********@db.example.com/app"}}),
        )
        .await;
    assert!(error_of(patch, 400).await.contains("no stored password"));
}

#[tokio::test]
async fn a_sources_own_words_are_cut_short_and_a_misplaced_secret_is_not_echoed() {
    let app = TestApp::spawn().await;
    let chatty = FakePostgres::start(Behaviour::RejectWithMessageOf(5_000_000)).await;
    let id = app
        .create_connection(
            "chatty",
            &format!("postgres://reader:pw@127.0.0.1:{}/app", chatty.port),
        )
        .await;
    let health = app.check_health(&id).await;
    let message = health["message"].as_str().unwrap();
    assert!(message.len() < 1100, "{} bytes came back", message.len());
    let stored: String = sqlx::query_scalar("SELECT health_message FROM connections")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.len() < 1100);

    let misplaced = app
        .post(
            "/api/connections",
            &json!({"name": "x", "type": "postgresql", "configuration": {"url": "postgres://u@db/app"},
                    "refresh_ttl_seconds": "SecretLeak-66"}),
        )
        .await;
    let message = error_of(misplaced, 400).await;
    assert!(!message.contains("SecretLeak"), "{message}");
}
