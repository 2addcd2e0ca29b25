//! Signed webhooks: deliveries queued with the run's end, signed, retried
//! after a 500 and after a receiver that was down, and kept to the access
//! policy and the caller's organization. Every receiver here is a real HTTP
//! server; signatures are checked with an HMAC computed here, not the sender's.

use hmac::{Hmac, Mac};
use schemata_core::Scope;
use schemata_sources::PolicySettings;
use schemata_testkit::{
    TestApp, free_port, load, source_database,
    webhook_receiver::{Received, WebhookReceiver},
};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// Checks `Schemata-Signature: t=…,v1=…` as a receiver would.
fn assert_signed(received: &Received, secret: &str) {
    let header = received
        .header("Schemata-Signature")
        .expect("a Schemata-Signature header");
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("malformed signature header {header}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap())
        .unwrap_or_else(|_| panic!("signature {header} does not verify"));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "timestamp {t} is {age} s old");
}

/// RFC 3339 UTC with milliseconds, as the contract says of every timestamp.
fn assert_milliseconds(at: &Value) {
    let text = at
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp, not {at}"));
    let parsed = chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
    assert!(
        text.ends_with('Z') && text.len() == "2026-03-11T10:00:00.000Z".len(),
        "{text}"
    );
    assert_eq!(parsed.timestamp_subsec_nanos() % 1_000_000, 0, "{text}");
}

async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let response = app
        .post("/api/webhooks", &json!({"url": url, "events": events}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/webhooks/{id}"));
    let secret = body["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (id, secret)
}

async fn deliveries(app: &TestApp, webhook: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/webhooks/{webhook}/deliveries"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Waits until the webhook's newest delivery satisfies `done`.
async fn wait_for_delivery(app: &TestApp, webhook: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        if let Some(first) = deliveries(app, webhook).await.first()
            && done(first)
        {
            return first.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "delivery never got there: {:?}",
        deliveries(app, webhook).await
    );
}

fn events(received: &[Received]) -> Vec<String> {
    let mut events: Vec<String> = received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect();
    events.sort();
    events
}

#[tokio::test]
async fn a_refresh_sends_signed_events_with_its_change_set() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE users (id int PRIMARY KEY, email text);").await;
    let id = app.create_connection("src", &source).await;
    let receiver = WebhookReceiver::start().await;
    let (webhook, secret) = subscribe(
        &app,
        &receiver.url("/hooks?token=abc"),
        &[
            "refresh.finished",
            "schema.changed",
            "schema.breaking_change",
        ],
    )
    .await;
    let worker = app.spawn_worker();

    // First refresh: everything is new (changed), nothing breaks.
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    let first = receiver.wait_for(2).await;
    assert_eq!(events(&first), ["refresh.finished", "schema.changed"]);
    for received in &first {
        assert_signed(received, &secret);
        let body = received.json();
        assert_eq!(received.header("Schemata-Delivery"), body["id"].as_str());
        assert_eq!(received.header("Schemata-Event"), body["event"].as_str());
        assert_eq!(received.header("content-type"), Some("application/json"));
        assert_eq!(
            received.target, "/hooks?token=abc",
            "sent to the URL as given"
        );
        assert_eq!(body["data"]["connection_id"], json!(id));
        assert_milliseconds(&body["created_at"]);
        assert_eq!(body["data"]["job_id"], status["last_result"]["job_id"]);
        assert_eq!(body["data"]["status"], "succeeded");
        assert_eq!(body["data"]["schema_version"], status["schema_version"]);
        assert_eq!(
            body["data"]["changes"]["objects_added"],
            json!(["public.users"])
        );
    }
    // A dropped column: all three events, the breaking reason in the payload.
    load(&source, "ALTER TABLE users DROP COLUMN email;").await;
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    let all = receiver.wait_for(5).await;
    let second = &all[2..];
    assert_eq!(
        events(second),
        [
            "refresh.finished",
            "schema.breaking_change",
            "schema.changed"
        ]
    );
    for received in second {
        assert_signed(received, &secret);
        let changes = &received.json()["data"]["changes"];
        assert_eq!(changes["breaking"], true, "{changes}");
        assert_eq!(
            changes["objects_changed"][0]["fields_removed"],
            json!(["email"])
        );
        if received.json()["event"] == "schema.breaking_change" {
            let headers: Vec<String> = received
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            eprintln!(
                "delivered webhook:\n{}\n\n{}",
                headers.join("\n"),
                received.body
            );
        }
    }

    // An unchanged refresh: only refresh.finished.
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    let all = receiver.wait_for(6).await;
    assert_eq!(events(&all[5..]), ["refresh.finished"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 6, "nothing else was sent");

    // Read back, the URL's token is masked.
    let shown: Value = app
        .get(&format!("/api/webhooks/{webhook}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["url"], receiver.url("/hooks?********"));
    assert_milliseconds(&shown["data"]["created_at"]);
    let listed = deliveries(&app, &webhook).await;
    assert_eq!(listed.len(), 6);
    for delivery in &listed {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        for at in ["created_at", "last_attempt_at", "delivered_at"] {
            assert_milliseconds(&delivery[at]);
        }
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["last_status_code"], 200);
        assert_eq!(delivery["next_attempt_at"], Value::Null);
    }
    worker.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_payload_until_it_is_accepted() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(&[500, 503]);
    let (webhook, secret) = subscribe(&app, &receiver.url("/"), &["refresh.finished"]).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;

    let tries = receiver.wait_for(3).await;
    let delivery = wait_for_delivery(&app, &webhook, |d| d["status"] == "delivered").await;
    assert_eq!(delivery["attempts"], 3, "{delivery}");
    assert_eq!(delivery["last_status_code"], 200);
    assert_eq!(tries.len(), 3);
    for received in &tries {
        assert_signed(received, &secret);
        assert_eq!(
            received.body, tries[0].body,
            "every attempt sends the same payload"
        );
    }
    worker.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_delivery_once_it_is_up() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/down");
    let (webhook, secret) = subscribe(&app, &url, &["refresh.finished"]).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;

    let failing = wait_for_delivery(&app, &webhook, |d| d["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(failing["status"], "pending", "{failing}");
    assert_eq!(failing["last_error"], "receiver unreachable");
    assert_eq!(failing["last_status_code"], Value::Null);
    assert!(failing["next_attempt_at"].is_string(), "{failing}");

    let receiver = WebhookReceiver::start_on(port).await;
    let received = receiver.wait_for(1).await;
    assert_signed(&received[0], &secret);
    let delivered = wait_for_delivery(&app, &webhook, |d| d["status"] == "delivered").await;
    assert!(delivered["attempts"].as_i64().unwrap() >= 3, "{delivered}");
    worker.stop().await;
}

/// Webhooks are no port scanner: a closed port, a server that does not speak
/// HTTP and one that never answers leave the same error on their deliveries.
#[tokio::test]
async fn a_closed_port_a_non_http_server_and_a_silent_one_read_the_same() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let closed = free_port();
    let greeting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let greeting_port = greeting.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = greeting.accept().await {
            // What a MariaDB server says first.
            let _ = tokio::io::AsyncWriteExt::write_all(
                &mut socket,
                b"\x4a\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00",
            )
            .await;
        }
    });
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut webhooks = Vec::new();
    for port in [closed, greeting_port, silent_port] {
        let url = format!("http://127.0.0.1:{port}/hook");
        webhooks.push(subscribe(&app, &url, &["refresh.finished"]).await.0);
    }
    let mut settings = app.worker_settings();
    settings.webhooks.timeout = Duration::from_millis(500);
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    let mut errors = Vec::new();
    for webhook in &webhooks {
        let delivery = wait_for_delivery(&app, webhook, |d| !d["last_error"].is_null()).await;
        assert_eq!(delivery["last_status_code"], Value::Null, "{delivery}");
        errors.push(delivery["last_error"].clone());
    }
    assert_eq!(errors, vec![json!("receiver unreachable"); 3]);
    worker.stop().await;
}

#[tokio::test]
async fn deliveries_give_up_after_their_retry_window() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(&[500; 50]);
    let (webhook, _) = subscribe(&app, &receiver.url("/"), &["refresh.finished"]).await;
    let mut settings = app.worker_settings();
    settings.webhooks.retry_for = Duration::from_secs(1);
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    let failed = wait_for_delivery(&app, &webhook, |d| d["status"] == "failed").await;
    assert_eq!(failed["last_status_code"], 500);
    assert_eq!(failed["last_error"], "the receiver answered 500");
    let tries = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        tries,
        "no attempt after giving up"
    );
    worker.stop().await;
}

#[tokio::test]
async fn webhook_urls_pass_the_access_policy_at_creation_and_at_delivery() {
    let denying = |networks: &str| PolicySettings {
        deny_networks: PolicySettings::parse_networks(networks).unwrap(),
        sqlite_root: None,
        ..PolicySettings::local_development()
    };
    let strict = TestApp::spawn_with(|s| s.sources.policy = denying("127.0.0.0/8,::1/128")).await;
    let receiver = WebhookReceiver::start().await;
    for url in [
        receiver.url("/"),
        format!("http://localhost:{}/", receiver.port),
        format!("http://[::ffff:127.0.0.1]:{}/", receiver.port),
    ] {
        let response = strict
            .post(
                "/api/webhooks",
                &json!({"url": url, "events": ["refresh.finished"]}),
            )
            .await;
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            "Webhook `url` refused by this server's access policy."
        );
    }

    // Schemata's own database server is refused with no deny list at all.
    let app = TestApp::spawn().await;
    let own_port = url::Url::parse(&app.store.database_url)
        .unwrap()
        .port()
        .unwrap_or(5432);
    let response = app
        .post(
            "/api/webhooks",
            &json!({"url": format!("http://127.0.0.1:{own_port}/"), "events": ["refresh.finished"]}),
        )
        .await;
    assert_eq!(response.status(), 400);

    // Accepted by the API, refused by the worker's policy: nothing is sent.
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let (webhook, _) = subscribe(&app, &receiver.url("/"), &["refresh.finished"]).await;
    let mut settings = app.worker_settings();
    settings.webhooks.retry_for = Duration::from_secs(1);
    // Loopback denied to this worker: the run fails (its source is local
    // too), and its refresh.finished is refused at the receiver's address.
    settings.sources.policy = denying("127.0.0.0/8,::1/128");
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    app.wait_for_refresh(&id).await;
    let delivery = wait_for_delivery(&app, &webhook, |d| !d["last_error"].is_null()).await;
    assert_eq!(
        delivery["last_error"], "refused by the access policy",
        "{delivery}"
    );
    assert!(
        receiver.received().is_empty(),
        "no request reached the receiver"
    );
    worker.stop().await;
}

#[tokio::test]
async fn webhooks_are_checked_and_kept_to_their_organization() {
    let app = TestApp::spawn().await;
    let receiver = WebhookReceiver::start().await;
    for (body, message) in [
        (
            json!({"url": "ftp://example.com/", "events": ["refresh.finished"]}),
            "scheme",
        ),
        (
            json!({"url": "not a url", "events": ["refresh.finished"]}),
            "Invalid webhook `url`",
        ),
        (
            json!({"url": receiver.url("/"), "events": []}),
            "at least one",
        ),
        (
            json!({"url": receiver.url("/"), "events": ["schema.dropped"]}),
            "Unknown event `schema.dropped`",
        ),
        (
            json!({"url": receiver.url("/"), "events": ["refresh.finished"], "connection_ids": []}),
            "at least one connection",
        ),
        (
            json!({"url": receiver.url("/"), "events": ["refresh.finished"], "secret": "mine"}),
            "unknown field",
        ),
    ] {
        let response = app.post("/api/webhooks", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        let text = error["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
    }

    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let mine = app.create_connection("mine", &source).await;
    let (webhook, _) = subscribe(&app, &receiver.url("/"), &["refresh.finished"]).await;
    let listed: Value = app.get("/api/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"][0]["id"], json!(webhook));
    assert!(
        listed["data"][0].get("secret").is_none(),
        "the secret is shown once"
    );

    // Another organization sees none of it, and cannot point a webhook at our connection.
    let other = app
        .key_for("other", &[Scope::ConnectionsRead, Scope::ConnectionsWrite])
        .await;
    let as_other = |request: reqwest::RequestBuilder| request.bearer_auth(&other);
    let client = reqwest::Client::new();
    for path in [
        format!("/api/webhooks/{webhook}"),
        format!("/api/webhooks/{webhook}/deliveries"),
    ] {
        let response = app
            .send(as_other(client.get(app.url(&path))))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = app
        .send(as_other(
            client.delete(app.url(&format!("/api/webhooks/{webhook}"))),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let theirs: Value = app
        .send(as_other(client.get(app.url("/api/webhooks"))))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));
    let response = app
        .send(as_other(client.post(app.url("/api/webhooks")).json(
            &json!({
                "url": receiver.url("/"), "events": ["refresh.finished"], "connection_ids": [mine]
            }),
        )))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // A webhook limited to one connection hears nothing of another.
    let elsewhere = app.create_connection("elsewhere", &source).await;
    let only_mine = app
        .post(
            "/api/webhooks",
            &json!({"url": receiver.url("/only"), "events": ["refresh.finished"], "connection_ids": [mine]}),
        )
        .await;
    assert_eq!(only_mine.status(), 201);
    let only_mine: Value = only_mine.json().await.unwrap();
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&elsewhere).await.status(), 202);
    app.wait_for_refresh(&elsewhere).await;
    assert_eq!(app.request_refresh(&mine).await.status(), 202);
    app.wait_for_refresh(&mine).await;
    receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let about = |connection: &str| {
        receiver
            .received()
            .iter()
            .filter(|r| r.json()["data"]["connection_id"] == json!(connection))
            .count()
    };
    assert_eq!(about(&elsewhere), 1, "only the all-connections webhook");
    assert_eq!(about(&mine), 2, "both webhooks");
    let id = only_mine["data"]["id"].as_str().unwrap();
    assert_eq!(deliveries(&app, id).await.len(), 1);

    // Deleting a webhook drops it and its deliveries.
    assert_eq!(
        app.delete(&format!("/api/webhooks/{webhook}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/webhooks/{webhook}")).await.status(),
        404
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_cancelled_run_is_a_finished_refresh_too() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let receiver = WebhookReceiver::start().await;
    let (webhook, _) = subscribe(
        &app,
        &receiver.url("/"),
        &["refresh.finished", "schema.changed"],
    )
    .await;
    // No worker: the run stays queued until it is cancelled.
    let accepted: Value = app.request_refresh(&id).await.json().await.unwrap();
    let job = accepted["data"]["job_id"].as_str().unwrap();
    let cancelled = app
        .delete(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await;
    assert!(cancelled.status().is_success());
    let worker = app.spawn_worker();
    let received = receiver.wait_for(1).await;
    let body = received[0].json();
    assert_eq!(body["event"], "refresh.finished");
    assert_eq!(body["data"]["status"], "cancelled");
    assert_eq!(body["data"]["job_id"], json!(job));
    assert_eq!(deliveries(&app, &webhook).await.len(), 1);
    worker.stop().await;
}

#[tokio::test]
async fn ended_deliveries_are_pruned_with_the_history_and_pending_ones_stay() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    let id = app.create_connection("src", &source).await;
    let receiver = WebhookReceiver::start().await;
    let (webhook, _) = subscribe(&app, &receiver.url("/"), &["refresh.finished"]).await;
    let worker = app.spawn_worker();
    for _ in 0..2 {
        assert_eq!(app.request_refresh(&id).await.status(), 202);
        app.wait_for_refresh(&id).await;
    }
    receiver.wait_for(2).await;
    // Both recorded as delivered before the worker stops (a stop between the
    // receiver's answer and the record would leave one leased, pending).
    for _ in 0..300 {
        let all = deliveries(&app, &webhook).await;
        if all.len() == 2 && all.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    wait_for_delivery(&app, &webhook, |d| d["status"] == "delivered").await;
    // Both 100 days old; one of them still pending.
    sqlx::query("UPDATE webhook_deliveries SET created_at = now() - interval '100 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending'
         WHERE id = (SELECT id FROM webhook_deliveries ORDER BY id LIMIT 1)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let prune = |days| schemata_store::webhook_deliveries::prune(&app.pool, days);
    assert_eq!(prune(200).await.unwrap(), 0, "younger than the retention");
    assert_eq!(prune(90).await.unwrap(), 1);
    let left = deliveries(&app, &webhook).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["status"], "pending");
}

/// Accepts connections and never answers: a receiver that hangs.
async fn hanging_receiver() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test]
async fn one_organizations_hanging_receivers_do_not_hold_up_anothers_deliveries() {
    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY);").await;
    // Organization A: ten webhooks whose receiver never answers.
    let (hanging, _task) = hanging_receiver().await;
    let a = app.create_connection("a", &source).await;
    let mut a_hooks = Vec::new();
    for n in 0..10 {
        let url = format!("http://127.0.0.1:{hanging}/{n}");
        a_hooks.push(subscribe(&app, &url, &["refresh.finished"]).await.0);
    }
    // Organization B: one webhook to a receiver that answers.
    let b_key = app
        .key_for(
            "b",
            &[
                Scope::ConnectionsRead,
                Scope::ConnectionsWrite,
                Scope::SchemasRead,
                Scope::SchemasWrite,
            ],
        )
        .await;
    let client = reqwest::Client::new();
    let as_b = |request: reqwest::RequestBuilder| request.bearer_auth(&b_key);
    let created: Value = app
        .send(as_b(client.post(app.url("/api/connections")).json(
            &json!({
                "name": "b", "type": "postgresql", "configuration": {"url": source.url()}
            }),
        )))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = created["data"]["id"].as_str().unwrap().to_owned();
    let receiver = WebhookReceiver::start().await;
    let hook = app
        .send(as_b(client.post(app.url("/api/webhooks")).json(&json!({
            "url": receiver.url("/b"), "events": ["refresh.finished"]
        }))))
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);

    let mut settings = app.worker_settings();
    settings.webhooks.timeout = Duration::from_secs(5);
    let worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&a).await.status(), 202);
    app.wait_for_refresh(&a).await;
    // A's ten deliveries are hanging (at most four of them in flight)…
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tried = futures::future::join_all(a_hooks.iter().map(|h| deliveries(&app, h))).await;
        if tried
            .iter()
            .flatten()
            .filter(|d| d["attempts"] == 1)
            .count()
            >= 4
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's deliveries never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …and B's goes out while they still hang.
    let refresh = app
        .send(as_b(client.post(
            app.url(&format!("/api/connections/{b}/schemas/refresh")),
        )))
        .await
        .unwrap();
    assert_eq!(refresh.status(), 202);
    receiver.wait_for(1).await;
    let a_after: Vec<Value> =
        futures::future::join_all(a_hooks.iter().map(|h| deliveries(&app, h)))
            .await
            .into_iter()
            .flatten()
            .collect();
    assert!(
        a_after.iter().all(|d| d["last_error"].is_null()),
        "B was served before any of A's attempts gave up: {a_after:?}"
    );
    let in_flight = a_after.iter().filter(|d| d["attempts"] == 1).count();
    assert!(in_flight <= 4, "at most four of A's in flight: {in_flight}");
    worker.stop().await;
}

#[tokio::test]
async fn an_organization_may_have_at_most_25_webhooks() {
    let app = TestApp::spawn().await;
    let receiver = WebhookReceiver::start().await;
    for n in 0..25 {
        subscribe(&app, &receiver.url(&format!("/{n}")), &["refresh.finished"]).await;
    }
    let response = app
        .post(
            "/api/webhooks",
            &json!({"url": receiver.url("/26"), "events": ["refresh.finished"]}),
        )
        .await;
    assert_eq!(response.status(), 409);
}
