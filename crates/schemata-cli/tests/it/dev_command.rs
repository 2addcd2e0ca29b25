//! The README's run command, as a process: `schemata dev` serves the walk-through
//! and stops cleanly on SIGTERM.

use schemata_testkit::fresh_database;
use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Kills the child when the test ends, whether it passed or not.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn read_env(path: &std::path::Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(&format!("export {name}="))
                .map(str::to_owned)
        })
    };
    Some((
        value("SCHEMATA_URL")?,
        value("SCHEMATA_API_KEY")?,
        value("DEMO_CONNECTION_ID")?,
    ))
}

#[tokio::test]
async fn dev_serves_the_walkthrough_and_stops_cleanly_on_sigterm() {
    let database_url = fresh_database("dev").await;
    let state_dir = std::env::temp_dir().join(format!("schemata-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    let child = Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args([
            "dev",
            "--port",
            "0",
            "--worker-ops-port",
            "0",
            "--state-dir",
        ])
        .arg(&state_dir)
        .env("DATABASE_URL", database_url.url())
        .env_remove("SCHEMATA_ENCRYPTION_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start schemata dev");
    let mut child = ChildGuard(child);

    let deadline = Instant::now() + Duration::from_secs(60);
    let (base, key, connection) = loop {
        if let Some(found) = read_env(&state_dir.join("env")) {
            break found;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "schemata dev exited early"
        );
        assert!(Instant::now() < deadline, "schemata dev did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    schemata_testkit::install_tls();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "schemata dev never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let accepted = client
        .post(format!(
            "{base}/api/connections/{connection}/schemas/refresh"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let status = loop {
        let status: Value = client
            .get(format!("{base}{location}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["data"]["cache_status"] != "refreshing" {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo refresh did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status["data"]["cache_status"], "fresh", "{status}");
    let objects: Value = client
        .get(format!("{base}/api/connections/{connection}/schemas"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = objects["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "public.customers",
            "public.products",
            "sales.order_items",
            "sales.order_totals",
            "sales.orders"
        ]
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "schemata dev ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "schemata dev exited with {exit} on SIGTERM");
    let _ = std::fs::remove_dir_all(&state_dir);
}
