//! The MariaDB server tests use: `SCHEMATA_TEST_MYSQL_URL`, else root on
//! 127.0.0.1:3306, else a private server under `target/` started with the
//! installed `mariadbd` (as the PostgreSQL side starts a private cluster), so
//! the test command passes where MariaDB is installed but not running. The
//! private server is stopped when the last test of the process lets go.

use crate::holders::ProcessHold;
use sqlx::{Connection, MySqlConnection};
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tokio::sync::Mutex;

const LOCAL_SERVER_URL: &str = "mysql://root@127.0.0.1:3306";
/// Apart from the PostgreSQL test clusters' 25439 and 25440.
const PRIVATE_PORT: u16 = 25441;

/// A MariaDB server, and the directory of the private one if we started it.
#[derive(Debug, Clone)]
pub struct MysqlServer {
    pub url: String,
    private_dir: Option<PathBuf>,
}

struct Shared {
    users: usize,
    server: Option<MysqlServer>,
    /// This process's hold among test processes (see `holders`).
    hold: Option<ProcessHold>,
}

static SHARED: Mutex<Shared> = Mutex::const_new(Shared {
    users: 0,
    server: None,
    hold: None,
});

fn holders_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/schemata-test-mariadb.holders")
}

/// A hold on the server: while any exists, a private server stays up.
pub struct MysqlLease {
    pub server: MysqlServer,
}

impl Drop for MysqlLease {
    fn drop(&mut self) {
        // Outside the test's runtime, so the last one out can stop the server.
        let _ = std::thread::spawn(|| {
            let mut shared = SHARED.blocking_lock();
            shared.users -= 1;
            if shared.users > 0 {
                return;
            }
            let server = shared.server.take();
            // Stopped only when no other test process holds it.
            let alone = shared.hold.take().and_then(ProcessHold::release);
            if let (Some(_alone), Some(dir)) = (alone, server.and_then(|s| s.private_dir)) {
                stop_private(&dir);
            }
        })
        .join();
    }
}

/// Finds (or starts) the server and holds it.
pub async fn lease() -> MysqlLease {
    let mut shared = SHARED.lock().await;
    if shared.server.is_none() {
        // Before looking for the server: a process stopping it finishes first.
        shared.hold = Some(ProcessHold::take(&holders_file()));
        let _starting = ProcessHold::starting(&holders_file());
        let server = find_or_start()
            .await
            .unwrap_or_else(|e| panic!("no MariaDB for tests: {e}"));
        shared.server = Some(server);
    }
    shared.users += 1;
    MysqlLease {
        server: shared.server.clone().expect("set above"),
    }
}

async fn find_or_start() -> Result<MysqlServer, String> {
    if let Ok(url) = std::env::var("SCHEMATA_TEST_MYSQL_URL") {
        return Ok(MysqlServer {
            url,
            private_dir: None,
        });
    }
    if answers(LOCAL_SERVER_URL).await {
        return Ok(MysqlServer {
            url: LOCAL_SERVER_URL.into(),
            private_dir: None,
        });
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/schemata-test-mariadb");
    start_private(&std::path::absolute(dir).map_err(|e| e.to_string())?).await
}

async fn answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), MySqlConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

/// Creates (first time) and starts a server in `dir` on 127.0.0.1:25441, root
/// without a password, durability traded for speed.
async fn start_private(dir: &Path) -> Result<MysqlServer, String> {
    let url = format!("mysql://root@127.0.0.1:{PRIVATE_PORT}");
    let server = MysqlServer {
        url: url.clone(),
        private_dir: Some(dir.to_owned()),
    };
    if answers(&url).await {
        return Ok(server);
    }
    let daemon = find_program(&["mariadbd", "mysqld"]).ok_or(
        "no MariaDB server found: install MariaDB (mariadbd) or set SCHEMATA_TEST_MYSQL_URL",
    )?;
    let install = find_program(&["mariadb-install-db", "mysql_install_db"])
        .ok_or("mariadb-install-db not found next to mariadbd")?;
    let data = dir.join("data");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let as_root = running_as_root();
    if !data.join("mysql").exists() {
        let mut command = Command::new(&install);
        command
            .arg("--no-defaults")
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg(format!("--datadir={}", data.display()));
        if as_root {
            command.arg("--user=root");
        }
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", install.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} failed: {}",
                install.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    let mut command = Command::new(&daemon);
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={PRIVATE_PORT}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .args([
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-buffer-pool-size=64M",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a test interrupted by Ctrl-C does not take it down mid-write.
        .process_group(0);
    if as_root {
        command.arg("--user=root");
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", daemon.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if answers(&url).await {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "started a private MariaDB in {} but it does not answer; see error.log there",
        dir.display()
    ))
}

/// Stops the private server in `dir`: SIGTERM, then waits until it removed
/// its pid file on the way out.
fn stop_private(dir: &Path) {
    let pid_file = dir.join("mysqld.pid");
    let Ok(pid) = std::fs::read_to_string(&pid_file) else {
        return;
    };
    let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && pid_file.exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| path.is_file())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
