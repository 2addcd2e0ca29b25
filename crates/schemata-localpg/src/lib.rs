//! Finding or starting a PostgreSQL server for development and tests:
//! `DATABASE_URL` if set, else 127.0.0.1:5432, else a private cluster created
//! with the installed `initdb`/`pg_ctl` under a directory of ours.

use sqlx::{Connection, PgConnection};
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};
use url::Url;

/// The well-known local server of a developer machine.
pub const LOCAL_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// Port of `schemata dev`'s private cluster, away from the usual 5432 (tests use others).
pub const PRIVATE_PORT: u16 = 54329;

/// A reachable server, as a URL without a database path.
#[derive(Debug, Clone)]
pub struct LocalServer {
    pub server_url: String,
    /// How it was found, for messages: `DATABASE_URL`, `127.0.0.1:5432` or `private cluster in …`.
    pub origin: String,
    /// Where its files are, when it is a private cluster we started.
    pub private_dir: Option<PathBuf>,
}

impl LocalServer {
    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        database_url(&self.server_url, name)
    }

    /// Creates database `name` unless it exists; true when created.
    pub async fn ensure_database(&self, name: &str) -> Result<bool, String> {
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "refusing to create database `{name}`: use lowercase letters, digits and _"
            ));
        }
        let mut conn = PgConnection::connect(&self.database_url("postgres"))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.origin))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        if !exists {
            // Identifiers cannot be bound; `name` was checked above.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot create database {name}: {e}"))?;
        }
        let _ = conn.close().await;
        Ok(!exists)
    }
}

/// The URL of database `name` on the server of `url`.
pub fn database_url(url: &str, name: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        Err(_) => format!("{}/{name}", url.trim_end_matches('/')),
    }
}

/// Finds a server: `explicit_url` (e.g. DATABASE_URL), the local one, or a
/// private cluster in `private_dir` on `private_port`, created and started on first use.
pub async fn find_or_start(
    explicit_url: Option<&str>,
    private_dir: &Path,
    private_port: u16,
) -> Result<LocalServer, String> {
    if let Some(url) = explicit_url {
        return Ok(LocalServer {
            server_url: database_url(url, "").trim_end_matches('/').to_owned(),
            origin: "DATABASE_URL".into(),
            private_dir: None,
        });
    }
    if answers(&database_url(LOCAL_SERVER_URL, "postgres")).await {
        return Ok(LocalServer {
            server_url: LOCAL_SERVER_URL.into(),
            origin: "127.0.0.1:5432".into(),
            private_dir: None,
        });
    }
    start_private(private_dir, private_port, ClusterAuth::Trust).await
}

/// How clients authenticate to a private cluster over TCP.
#[derive(Debug, Clone, Copy)]
pub enum ClusterAuth {
    Trust,
    /// SCRAM with this password for user `postgres` (tests of bad credentials).
    Password(&'static str),
}

async fn answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

/// Creates (first time) and starts a cluster in `dir` listening on 127.0.0.1:`port`.
pub async fn start_private(
    dir: &Path,
    port: u16,
    auth: ClusterAuth,
) -> Result<LocalServer, String> {
    start_private_with(dir, port, auth, &[]).await
}

/// [`start_private`] with server settings (`-c name=value`), e.g. for a benchmark.
pub async fn start_private_with(
    dir: &Path,
    port: u16,
    auth: ClusterAuth,
    settings: &[(&str, &str)],
) -> Result<LocalServer, String> {
    let as_postgres = running_as_root();
    let dir = reachable_dir(
        &std::path::absolute(dir).map_err(|e| e.to_string())?,
        as_postgres,
    );
    let server_url = match auth {
        ClusterAuth::Trust => format!("postgres://postgres@127.0.0.1:{port}"),
        ClusterAuth::Password(password) => {
            format!("postgres://postgres:{password}@127.0.0.1:{port}")
        }
    };
    let server = LocalServer {
        server_url: server_url.clone(),
        origin: format!("private cluster in {}", dir.display()),
        private_dir: Some(dir.clone()),
    };
    if answers(&database_url(&server_url, "postgres")).await {
        return Ok(server);
    }
    let bin = postgres_bin_dir().ok_or(
        "no PostgreSQL server found: install PostgreSQL (initdb, pg_ctl) or set DATABASE_URL",
    )?;
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if as_postgres {
        // initdb refuses to run as root; the cluster belongs to the postgres user.
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
    }
    if !data.join("PG_VERSION").exists() {
        let data_dir = data.to_string_lossy().into_owned();
        let mut args = vec![
            "-D",
            data_dir.as_str(),
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--no-sync",
        ];
        let password_file = dir.join("password");
        let password_arg = format!("--pwfile={}", password_file.display());
        match auth {
            ClusterAuth::Trust => args.push("--auth=trust"),
            ClusterAuth::Password(password) => {
                std::fs::write(&password_file, password).map_err(|e| e.to_string())?;
                if as_postgres {
                    let _ = Command::new("chown")
                        .args(["postgres:postgres"])
                        .arg(&password_file)
                        .status();
                }
                args.extend([
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    password_arg.as_str(),
                ]);
            }
        }
        run(as_postgres, &bin.join("initdb"), &args)?;
    }
    let mut options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        dir.display()
    );
    for (name, value) in settings {
        options.push_str(&format!(" -c {name}={value}"));
    }
    run(
        as_postgres,
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-l",
            &dir.join("postgres.log").to_string_lossy(),
            "-o",
            &options,
            "-w",
            "start",
        ],
    )?;
    if answers(&database_url(&server_url, "postgres")).await {
        Ok(server)
    } else {
        Err(format!(
            "started a private PostgreSQL in {} but it does not answer; see postgres.log there",
            dir.display()
        ))
    }
}

/// Stops the private cluster in `dir` (fast shutdown), if it is running.
pub fn stop_private(dir: &Path) -> Result<(), String> {
    let data = std::path::absolute(dir)
        .map_err(|e| e.to_string())?
        .join("data");
    if !data.join("postmaster.pid").exists() {
        return Ok(());
    }
    let bin = postgres_bin_dir().ok_or("no pg_ctl found")?;
    run(
        running_as_root(),
        &bin.join("pg_ctl"),
        &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
    )
}

/// Where a cluster asked for in `dir` really lives. Run as root, the cluster
/// belongs to the postgres user, who may not be able to reach `dir` (a clone in
/// a private temporary directory, or under /root): it then lives in the system's
/// temporary directory instead, under a name derived from `dir`.
fn reachable_dir(dir: &Path, as_postgres: bool) -> PathBuf {
    if !as_postgres || postgres_can_reach(dir) {
        return dir.to_owned();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
    std::env::temp_dir().join(format!(
        "schemata-{}-{}",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        hex::encode(&digest[..6])
    ))
}

/// Whether the postgres user can get to `dir` (or, not there yet, to the
/// closest directory above it that is).
fn postgres_can_reach(dir: &Path) -> bool {
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(existing)
        .current_dir("/")
        .status()
        .is_ok_and(|s| s.success())
}

fn run(as_postgres: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    // The postgres user may not be allowed into our working directory.
    command.current_dir("/");
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Where `initdb` and `pg_ctl` live: PATH, or Debian's versioned directories.
fn postgres_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut candidates: Vec<PathBuf> = on_path;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}
