//! Schemata's API or worker as a real process (`schemata api` / `schemata
//! worker`), for tests and benchmarks that need its environment, its logs or
//! its memory: killed when dropped.

use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct ServiceProcess {
    child: Child,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts `binary role` with exactly `env` (and PATH), logging to `log`.
    /// The sources of tests and benchmarks live on this machine, beside
    /// Schemata's own database: the process allows loopback and the other
    /// databases of its server as sources, unless `env` says otherwise.
    pub fn spawn(binary: &Path, role: &str, env: &[(String, String)], log: PathBuf) -> Self {
        crate::install_tls();
        let file = std::fs::File::create(&log).expect("create the log file");
        let child = Command::new(binary)
            .arg(role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCHEMATA_SOURCE_DENY_NETWORKS", "")
            .env("SCHEMATA_ALLOW_SOURCES_ON_OWN_SERVER", "true")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {} {role}: {e}", binary.display()));
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a JSON log line whose `message` is `message`, and returns it.
    pub async fn wait_for_line(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.log().lines().find_map(|line| {
                serde_json::from_str::<Value>(line)
                    .ok()
                    .filter(|v| v["message"] == message)
            }) {
                return line;
            }
            assert!(
                self.child.try_wait().expect("the process status").is_none(),
                "exited early:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "no `{message}` in:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The most memory the process has held (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Whether it has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: the process gets no chance to clean up, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then up to 30 s for a clean exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
