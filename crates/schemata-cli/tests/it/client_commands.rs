//! The `schemata` CLI as a client of a running API: the real binary against
//! an app and a worker of the test kit.

use schemata_testkit::{
    TestApp, TestWorker,
    fake_postgres::{Behaviour, FakePostgres},
    source_database,
};
use serde_json::Value;
use std::process::{Command, Output};

/// Runs the CLI off the test's runtime, which must go on serving the app.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the command"))
        .await
        .unwrap()
}

async fn schemata(app: &TestApp, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_schemata"));
    command
        .args(args)
        .env("SCHEMATA_URL", &app.address)
        .env("SCHEMATA_API_KEY", &app.api_key)
        .env("RUST_LOG", "warn")
        // Not `schemata dev`'s env file: the test app's address and key only.
        .current_dir(std::env::temp_dir());
    run(command).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn connections_refresh_wait_schema_and_runs_through_the_cli() {
    let app = TestApp::spawn().await;
    let worker = app.spawn_worker();
    let source =
        source_database("CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);").await;

    let created = schemata(
        &app,
        &[
            "connections",
            "create",
            "--name",
            "shop",
            "--source-url",
            source.url(),
        ],
    )
    .await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).starts_with("Created connection shop"));
    let listed = text(&schemata(&app, &["connections", "list"]).await.stdout);
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains("shop") && listed.contains("postgresql"),
        "{listed}"
    );
    let shown: Value = serde_json::from_slice(
        &schemata(&app, &["connections", "show", "shop"])
            .await
            .stdout,
    )
    .unwrap();
    assert_eq!(shown["name"], "shop");
    let tested = schemata(&app, &["connections", "test", "shop"]).await;
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested.stdout));

    // Not a terminal: plain lines, then the result and the change set.
    let refreshed = schemata(&app, &["refresh", "shop", "--wait"]).await;
    let out = text(&refreshed.stdout);
    assert_eq!(
        refreshed.status.code(),
        Some(0),
        "{out}{}",
        text(&refreshed.stderr)
    );
    assert!(out.contains(" succeeded in "), "{out}");
    assert!(out.contains("1 table(s) refreshed"), "{out}");
    assert!(out.contains("+ public.customers"), "{out}");

    let objects = text(&schemata(&app, &["schema", "shop"]).await.stdout);
    assert!(
        objects.contains("public.customers") && objects.contains("table"),
        "{objects}"
    );
    let fields = text(
        &schemata(&app, &["schema", "shop", "public.customers"])
            .await
            .stdout,
    );
    assert!(fields.contains("primary key: id"), "{fields}");
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("email") && l.contains("string")),
        "{fields}"
    );
    let runs = text(&schemata(&app, &["runs", "shop"]).await.stdout);
    assert!(
        runs.lines().nth(1).is_some_and(|l| l.contains("succeeded")),
        "{runs}"
    );

    // --json: the run as the API gives it.
    let again = schemata(&app, &["refresh", "shop", "--wait", "--json"]).await;
    assert_eq!(again.status.code(), Some(0));
    let run: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["result"]["changed"], false);

    let deleted = schemata(&app, &["connections", "delete", "shop"]).await;
    assert!(deleted.status.success());
    worker.stop().await;
}

#[tokio::test]
async fn failures_are_the_apis_message_and_request_id_with_their_exit_codes() {
    let app = TestApp::spawn().await;
    // Unknown connection.
    let unknown = schemata(&app, &["refresh", "nope", "--wait"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        text(&unknown.stderr).trim(),
        "error: No connection named or with id `nope`."
    );

    // An unhealthy source: the API's 409, worded by the API.
    let closed = schemata_testkit::free_port();
    app.create_connection("down", &format!("postgres://u:p@127.0.0.1:{closed}/db"))
        .await;
    let refused = schemata(&app, &["refresh", "down", "--wait"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.starts_with("error: Connection is unhealthy"),
        "{stderr}"
    );
    assert!(stderr.contains("(request id "), "{stderr}");
    assert!(
        !stderr.contains("ApiFailure") && !stderr.contains("{"),
        "no debug dump: {stderr}"
    );

    // A refresh that does not end in time: exit 3, and it goes on.
    let (_wedged, slow, worker) = slow_connection(&app).await;
    let waited = schemata(&app, &["refresh", "slow", "--wait", "--timeout", "1"]).await;
    assert_eq!(waited.status.code(), Some(3), "{}", text(&waited.stderr));
    assert!(
        text(&waited.stderr).contains("after 1 s"),
        "{}",
        text(&waited.stderr)
    );
    cancel_current(&app, &slow).await;
    worker.stop().await;

    // No key at all.
    let mut keyless = Command::new(env!("CARGO_BIN_EXE_schemata"));
    keyless
        .args(["connections", "list", "--url", &app.address])
        .env_remove("SCHEMATA_API_KEY")
        .current_dir(std::env::temp_dir());
    let keyless = run(keyless).await;
    assert_eq!(keyless.status.code(), Some(1));
    assert!(
        text(&keyless.stderr).contains("No API key"),
        "{}",
        text(&keyless.stderr)
    );
}

/// On a terminal (a pty from `script`), `--wait` draws a progress bar with
/// the phase and the object count.
#[tokio::test]
async fn on_a_terminal_the_wait_shows_a_progress_bar() {
    let app = TestApp::spawn().await;
    let (_wedged, slow, worker) = slow_connection(&app).await;
    let command = format!(
        "{} refresh slow --wait --timeout 2",
        env!("CARGO_BIN_EXE_schemata")
    );
    // `script` (util-linux) runs the CLI on a pty.
    let mut on_a_pty = Command::new("script");
    on_a_pty
        .args(["-qec", &command, "/dev/null"])
        .env("SCHEMATA_URL", &app.address)
        .env("SCHEMATA_API_KEY", &app.api_key)
        .env("TERM", "xterm")
        .current_dir(std::env::temp_dir());
    let shown = run(on_a_pty).await;
    let screen = text(&shown.stdout);
    assert_eq!(shown.status.code(), Some(3), "{screen}");
    assert!(
        screen.contains("objects"),
        "a bar with its object count: {screen:?}"
    );
    assert!(
        screen.contains("running") || screen.contains("queued"),
        "the phase: {screen:?}"
    );
    assert!(
        screen.contains('\u{1b}'),
        "drawn with terminal escapes: {screen:?}"
    );
    cancel_current(&app, &slow).await;
    worker.stop().await;
}

/// Connection `slow`, whose refreshes wait on BEGIN until cancelled, and a
/// worker that lets them wait: `(source, connection id, worker)`.
async fn slow_connection(app: &TestApp) -> (FakePostgres, String, TestWorker) {
    let wedged = FakePostgres::start(Behaviour::AcceptAnyPassword {
        stall_on: Some("BEGIN"),
    })
    .await;
    let id = app
        .create_connection(
            "slow",
            &format!("postgres://u:p@127.0.0.1:{}/db", wedged.port),
        )
        .await;
    let mut settings = app.worker_settings();
    settings.sources.limits.statement_timeout = std::time::Duration::from_secs(300);
    let worker = app.spawn_worker_with(settings);
    (wedged, id, worker)
}

/// Cancels the connection's current refresh.
async fn cancel_current(app: &TestApp, id: &str) {
    let job = app.status(id).await["current_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .delete(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await;
    assert_eq!(cancelled.status(), 200);
}
/// A table the source's role may not read: the run is partial, `--wait`
/// names the failure and exits 2.
#[tokio::test]
async fn a_partial_refresh_exits_2_and_names_what_failed() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE customers (id int PRIMARY KEY); CREATE TABLE invoices (id int PRIMARY KEY);",
    )
    .await;
    let role = format!("cli_{}", &source.name()[source.name().len() - 10..]);
    schemata_testkit::load(
        &source,
        &format!("CREATE ROLE {role} LOGIN; GRANT SELECT ON customers TO {role};"),
    )
    .await;
    let url = source
        .url()
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    app.create_connection("partly", &url).await;
    let worker = app.spawn_worker();
    let waited = schemata(&app, &["refresh", "partly", "--wait"]).await;
    let out = text(&waited.stdout);
    assert_eq!(
        waited.status.code(),
        Some(2),
        "{out}{}",
        text(&waited.stderr)
    );
    assert!(out.contains(" partial in "), "{out}");
    assert!(out.contains("! public.invoices:"), "{out}");
    worker.stop().await;
    schemata_testkit::load(&source, &format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;
}
