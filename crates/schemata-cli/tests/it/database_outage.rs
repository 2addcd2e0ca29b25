//! Our own database stopped and started again under a running API and
//! worker (real processes, on a private PostgreSQL cluster the test owns):
//! requests answer 503 in the envelope instead of hanging, the probes tell,
//! no process exits, and both recover by themselves.

use schemata_core::Scope;
use schemata_localpg::{ClusterAuth, start_private, stop_private};
use schemata_store::{SecretBox, api_keys, organizations};
use schemata_testkit::{ServiceProcess, free_port, source_database};
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Stops the cluster when the test ends, passed or not.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = stop_private(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn an_outage_of_our_database_is_a_503_then_everything_recovers_by_itself() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target")
        .join(format!(
            "schemata-test-outage-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
    let port = free_port();
    let server = start_private(&dir, port, ClusterAuth::Trust).await.unwrap();
    let cluster = Cluster(server.private_dir.clone().unwrap_or(dir.clone()));
    server.ensure_database("schemata").await.unwrap();
    let database_url = server.database_url("schemata");
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    schemata_store::migrate(&pool).await.unwrap();
    let organization = organizations::ensure(&pool, "acme").await.unwrap();
    let key = api_keys::create(&pool, organization.id, "test", &Scope::ALL)
        .await
        .unwrap()
        .secret;
    pool.close().await;

    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url),
        (
            "SCHEMATA_ENCRYPTION_KEY".into(),
            SecretBox::generate_key_hex(),
        ),
        ("SCHEMATA_API_PORT".into(), "0".into()),
        ("SCHEMATA_WORKER_OPS_PORT".into(), free_port().to_string()),
        ("SCHEMATA_WORKER_POLL_INTERVAL_MS".into(), "500".into()),
        ("SCHEMATA_LOG_FORMAT".into(), "json".into()),
    ];
    let worker_ops = format!(
        "http://127.0.0.1:{}",
        env.iter()
            .find(|(k, _)| k == "SCHEMATA_WORKER_OPS_PORT")
            .unwrap()
            .1
    );
    let logs = std::env::temp_dir().join(format!("schemata-outage-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&logs).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_schemata"));
    let mut api = ServiceProcess::spawn(binary, "api", &env, logs.join("api.log"));
    let mut worker = ServiceProcess::spawn(binary, "worker", &env, logs.join("worker.log"));
    let api_port = api.wait_for_line("schemata-api listening").await["port"]
        .as_u64()
        .unwrap();
    worker.wait_for_line("schemata-worker started").await;
    let base = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let call = async |method: &str, url: String, body: Option<Value>| -> (u16, Value) {
        let mut request = client
            .request(method.parse().unwrap(), url)
            .bearer_auth(&key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer, not a hang");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    };

    let source = source_database("CREATE TABLE t (id int);").await;
    let (created, body) = call(
        "POST",
        format!("{base}/api/connections"),
        Some(json!({"name": "src", "type": "postgresql", "configuration": {"url": source.url()}})),
    )
    .await;
    assert_eq!(created, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let status_url = format!("{base}/api/connections/{id}/schemas/status");
    let refresh_url = format!("{base}/api/connections/{id}/schemas/refresh");
    let wait_fresh = async || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = call("GET", status_url.clone(), None).await;
            if code == 200 && body["data"]["cache_status"] == "fresh" {
                return body;
            }
            assert!(Instant::now() < deadline, "never fresh: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(call("POST", refresh_url.clone(), None).await.0, 202);
    wait_fresh().await;

    // The outage.
    stop_private(&cluster.0).unwrap();
    let asked = Instant::now();
    // A status kept in memory may still be served until the API notices its
    // notifications session is gone (milliseconds here); then 503, within 2 s.
    let (code, body) = loop {
        let (code, body) = call("GET", status_url.clone(), None).await;
        if code != 200 || asked.elapsed() > Duration::from_secs(2) {
            break (code, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "status during the outage: {code} after {:?}",
        asked.elapsed()
    );
    assert_eq!(code, 503, "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "503 within 2 s (and one request)"
    );
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "unavailable");
    for probe in [format!("{base}/readyz"), format!("{worker_ops}/readyz")] {
        let asked = Instant::now();
        let (code, _) = call("GET", probe.clone(), None).await;
        println!(
            "{probe} during the outage: {code} after {:?}",
            asked.elapsed()
        );
        assert_eq!(code, 503, "{probe}");
    }
    for probe in [format!("{base}/healthz"), format!("{worker_ops}/healthz")] {
        assert_eq!(call("GET", probe.clone(), None).await.0, 200, "{probe}");
    }
    // Long enough for the queue worker's stream to give up on the database.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(api.is_running(), "the API exited:\n{}", api.log());
    assert!(worker.is_running(), "the worker exited:\n{}", worker.log());

    // The database comes back; nobody restarts anything.
    start_private(&dir, port, ClusterAuth::Trust).await.unwrap();
    let back = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = call("POST", refresh_url.clone(), None).await;
        if code == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API never recovered: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = back.elapsed();
    let status = wait_fresh().await;
    println!(
        "after the database returned: refresh accepted in {:?}, fresh in {:?}",
        accepted,
        back.elapsed()
    );
    assert!(
        status["data"]["last_refresh_finished"].as_str()
            > status["data"]["last_refresh_started"].as_str()
    );
    assert!(worker.is_running(), "the worker exited:\n{}", worker.log());
    assert!(
        worker
            .log()
            .contains("the queue worker stopped; starting it again"),
        "the outage did reach the queue worker, which was started again"
    );
    drop(api);
    drop(worker);
    drop(cluster);
}
