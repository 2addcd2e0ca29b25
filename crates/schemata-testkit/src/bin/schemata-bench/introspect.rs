//! Large catalogs through the real service: the API and the worker as
//! processes (release build) on a private PostgreSQL cluster, against
//! `pg_dump --schema-only` and `mysqldump --no-data` on the same databases.
//!
//! For each catalog: the first refresh, a refresh with nothing changed, a
//! refresh after one table changed (POST → fresh, as a client sees it), and
//! the worker's peak RSS. `--write-docs` puts the table in docs/benchmarks.md.

use crate::catalogs;
use anyhow::{Context, ensure};
use schemata_core::Scope;
use schemata_localpg::{ClusterAuth, LocalServer, start_private_with};
use schemata_store::{SecretBox, api_keys, organizations};
use schemata_testkit::ServiceProcess;
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection, PgConnection};
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

const CLUSTER_PORT: u16 = 54350;
const DOCS_START: &str = "<!-- bench-introspect:start -->";
const DOCS_END: &str = "<!-- bench-introspect:end -->";

/// One measured line of the report.
pub(crate) struct Line {
    catalog: String,
    measure: &'static str,
    value: String,
    /// Fastest and slowest of the runs, when there were several.
    spread: String,
    ratio: Option<f64>,
    target: &'static str,
}

/// Runs of each measure: the table shows their median.
const RUNS: usize = 3;

/// Timings of repeated runs.
pub(crate) struct Runs(pub Vec<Duration>);

impl Runs {
    fn median(&self) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }

    fn spread(&self) -> String {
        let (Some(min), Some(max)) = (self.0.iter().min(), self.0.iter().max()) else {
            return String::new();
        };
        format!("{:.3}–{:.3} s", min.as_secs_f64(), max.as_secs_f64())
    }
}

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let large = args.iter().any(|a| a == "--large");
    let with_mariadb = !args.iter().any(|a| a == "--skip-mariadb");
    let only_dynamodb = args.iter().any(|a| a == "--only-dynamodb");
    let only_snowflake = args.iter().any(|a| a == "--only-snowflake");
    let write_docs = args.iter().any(|a| a == "--write-docs");
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = std::env::current_exe()?.with_file_name("schemata");
    ensure!(
        binary.exists(),
        "{} is missing: cargo build --release --bin schemata",
        binary.display()
    );
    eprintln!("starting a private PostgreSQL cluster for the benchmark (port {CLUSTER_PORT})");
    // pg_dump takes a lock per table; 50,000 tables need more than the default 64 per connection.
    let server = start_private_with(
        &workspace.join("target/schemata-bench-postgres"),
        CLUSTER_PORT,
        ClusterAuth::Trust,
        &[("max_locks_per_transaction", "4096")],
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let service = Service::start(&server, &binary, &workspace).await?;
    let mut lines = Vec::new();
    let mut sizes = vec![10_000];
    if large {
        sizes.push(50_000);
    }
    if !only_dynamodb && !only_snowflake {
        for tables in sizes {
            lines.extend(postgres_catalog(&server, &service, &binary, &workspace, tables).await?);
        }
        if with_mariadb {
            lines.extend(mariadb_catalog(&service, &binary, &workspace, 5_000).await?);
        }
    }
    if !only_snowflake {
        lines.extend(
            crate::dynamodb_catalog::measure_catalog(&service, &binary, &workspace, 500).await?,
        );
    }
    if !only_dynamodb {
        lines.extend(
            crate::snowflake_catalog::measure_catalog(&service, &binary, &workspace, 2_000).await?,
        );
    }
    let table = render(&lines);
    println!("\n{table}");
    if write_docs {
        write_docs_table(&workspace.join("docs/benchmarks.md"), &table)?;
        eprintln!("wrote docs/benchmarks.md");
    }
    Ok(())
}

/// Schemata's own database and API on the bench cluster; workers come and go.
pub(crate) struct Service {
    env: Vec<(String, String)>,
    /// Kept for as long as the benchmark runs.
    _api: ServiceProcess,
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Service {
    async fn start(
        server: &LocalServer,
        binary: &std::path::Path,
        workspace: &std::path::Path,
    ) -> anyhow::Result<Self> {
        recreate(server, "schemata_bench").await?;
        let url = server.database_url("schemata_bench");
        let pool = sqlx::PgPool::connect(&url).await?;
        schemata_store::migrate(&pool).await?;
        let organization = organizations::ensure(&pool, "bench").await?;
        let key = api_keys::create(&pool, organization.id, "bench", &Scope::ALL)
            .await?
            .secret;
        pool.close().await;
        let env = vec![
            ("DATABASE_URL".to_owned(), url),
            (
                "SCHEMATA_ENCRYPTION_KEY".into(),
                SecretBox::generate_key_hex(),
            ),
            ("SCHEMATA_API_PORT".into(), "0".into()),
            ("SCHEMATA_WORKER_OPS_PORT".into(), "0".into()),
            ("SCHEMATA_LOG_FORMAT".into(), "json".into()),
            ("SCHEMATA_JOB_TIMEOUT_SECS".into(), "3600".into()),
            (
                "SCHEMATA_SOURCE_STATEMENT_TIMEOUT_SECS".into(),
                "600".into(),
            ),
        ];
        let logs = workspace.join("target/schemata-bench-logs");
        std::fs::create_dir_all(&logs)?;
        let mut api = ServiceProcess::spawn(binary, "api", &env, logs.join("api.log"));
        let port = api.wait_for_line("schemata-api listening").await["port"]
            .as_u64()
            .context("the API's port")?;
        Ok(Self {
            env,
            _api: api,
            base: format!("http://127.0.0.1:{port}"),
            key,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3600))
                .build()?,
        })
    }

    pub(crate) async fn worker(
        &self,
        binary: &std::path::Path,
        workspace: &std::path::Path,
        name: &str,
    ) -> ServiceProcess {
        let log = workspace.join(format!("target/schemata-bench-logs/worker-{name}.log"));
        let mut worker = ServiceProcess::spawn(binary, "worker", &self.env, log);
        worker.wait_for_line("schemata-worker started").await;
        worker
    }

    async fn connection(
        &self,
        name: &str,
        kind: &str,
        configuration: &Value,
    ) -> anyhow::Result<String> {
        let created: Value = self
            .client
            .post(format!("{}/api/connections", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"name": name, "type": kind, "configuration": configuration}))
            .send()
            .await?
            .json()
            .await?;
        Ok(created["data"]["id"]
            .as_str()
            .context("a connection id")?
            .to_owned())
    }

    async fn delete_connection(&self, id: &str) -> anyhow::Result<()> {
        let deleted = self
            .client
            .delete(format!("{}/api/connections/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?;
        ensure!(
            deleted.status().is_success(),
            "delete answered {}",
            deleted.status()
        );
        Ok(())
    }

    /// POST refresh, then poll the status as a client would: the time it took,
    /// and the status it ended with.
    async fn refresh(&self, id: &str) -> anyhow::Result<(Duration, Value)> {
        let started = Instant::now();
        let accepted = self
            .client
            .post(format!(
                "{}/api/connections/{id}/schemas/refresh",
                self.base
            ))
            .bearer_auth(&self.key)
            .send()
            .await?;
        ensure!(
            accepted.status() == 202,
            "refresh answered {}",
            accepted.status()
        );
        loop {
            let status: Value = self
                .client
                .get(format!("{}/api/connections/{id}/schemas/status", self.base))
                .bearer_auth(&self.key)
                .send()
                .await?
                .json()
                .await?;
            if status["data"]["cache_status"] != "refreshing" {
                ensure!(
                    status["data"]["cache_status"] == "fresh",
                    "refresh failed: {status}"
                );
                return Ok((started.elapsed(), status["data"].clone()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn postgres_catalog(
    server: &LocalServer,
    service: &Service,
    binary: &std::path::Path,
    workspace: &std::path::Path,
    tables: usize,
) -> anyhow::Result<Vec<Line>> {
    let name = format!("bench_{tables}");
    let catalog = format!("PostgreSQL, {tables} tables");
    recreate(server, &name).await?;
    let url = server.database_url(&name);
    eprintln!("generating {catalog}…");
    catalogs::postgres(&url, tables).await?;
    eprintln!("pg_dump --schema-only…");
    let dump = timed(|| {
        let mut command = Command::new("pg_dump");
        command.args(["--schema-only", "-f", "/dev/null", &url]);
        command
    })?;
    let worker = service.worker(binary, workspace, &name).await;
    let lines = measure(
        service,
        &worker,
        (&name, "postgresql", &json!({"url": url})),
        &catalog,
        dump,
        "pg_dump --schema-only",
        async |run| {
            let mut conn = PgConnection::connect(&url).await?;
            let changed = format!("ALTER TABLE t_{} ADD COLUMN extra int", tables / 2 + run);
            sqlx::raw_sql(sqlx::AssertSqlSafe(changed))
                .execute(&mut conn)
                .await?;
            Ok(())
        },
        if tables <= 10_000 { 200 } else { 300 },
    )
    .await?;
    Ok(lines)
}

async fn mariadb_catalog(
    service: &Service,
    binary: &std::path::Path,
    workspace: &std::path::Path,
    tables: usize,
) -> anyhow::Result<Vec<Line>> {
    let name = format!("schemata_bench_{tables}");
    let catalog = format!("MariaDB, {tables} tables");
    // The MariaDB the machine runs (the private test server is for tests).
    let server = std::env::var("SCHEMATA_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let mut admin = MySqlConnection::connect(&server)
        .await
        .context("connect to MariaDB")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"
    )))
    .execute(&mut admin)
    .await?;
    let url = format!("{server}/{name}");
    eprintln!("generating {catalog}…");
    catalogs::mariadb(&url, tables).await?;
    eprintln!("mysqldump --no-data…");
    let parsed = url::Url::parse(&server)?;
    let dump_tool = ["mariadb-dump", "mysqldump"]
        .into_iter()
        .find(|t| Command::new(t).arg("--version").output().is_ok())
        .context("mysqldump (or mariadb-dump) is needed for the reference")?;
    let dump = timed(|| {
        let mut command = Command::new(dump_tool);
        command
            .arg(format!(
                "--host={}",
                parsed.host_str().unwrap_or("127.0.0.1")
            ))
            .arg(format!("--port={}", parsed.port().unwrap_or(3306)))
            .arg(format!("--user={}", parsed.username()))
            .args(["--no-data", "--result-file=/dev/null", &name]);
        command
    })?;
    let worker = service.worker(binary, workspace, &name).await;
    let lines = measure(
        service,
        &worker,
        (&name, "mysql", &json!({"url": url})),
        &catalog,
        dump,
        "mysqldump --no-data",
        async |run| {
            let mut conn = MySqlConnection::connect(&url).await?;
            let changed = format!("ALTER TABLE t_{} ADD COLUMN extra int", tables / 2 + run);
            sqlx::raw_sql(sqlx::AssertSqlSafe(changed))
                .execute(&mut conn)
                .await?;
            Ok(())
        },
        0,
    )
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`")))
        .execute(&mut admin)
        .await?;
    Ok(lines)
}

/// The three refreshes, each run `RUNS` times, and the worker's peak memory,
/// against the reference. A first refresh needs a connection with an empty
/// cache: each run creates one, and all but the last are deleted after it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn measure(
    service: &Service,
    worker: &ServiceProcess,
    (name, kind, configuration): (&str, &str, &Value),
    catalog: &str,
    reference: Runs,
    reference_name: &'static str,
    change_one_table: impl AsyncFn(usize) -> anyhow::Result<()>,
    rss_target_mb: u64,
) -> anyhow::Result<Vec<Line>> {
    let mut first = Runs(vec![]);
    let mut id = String::new();
    let mut columns = 0;
    for run in 0..RUNS {
        eprintln!("first refresh ({}/{RUNS})…", run + 1);
        if !id.is_empty() {
            service.delete_connection(&id).await?;
        }
        id = service
            .connection(&format!("{name}-{run}"), kind, configuration)
            .await?;
        let (took, status) = service.refresh(&id).await?;
        columns = status["last_result"]["column_count"]
            .as_u64()
            .unwrap_or_default();
        first.0.push(took);
    }
    let mut unchanged = Runs(vec![]);
    for run in 0..RUNS {
        eprintln!("unchanged refresh ({}/{RUNS})…", run + 1);
        unchanged.0.push(service.refresh(&id).await?.0);
    }
    let mut one = Runs(vec![]);
    for run in 0..RUNS {
        change_one_table(run).await?;
        eprintln!("refresh after one table changed ({}/{RUNS})…", run + 1);
        one.0.push(service.refresh(&id).await?.0);
    }
    let rss = worker.peak_rss_kib().unwrap_or_default() / 1024;
    let postgres = reference_name.starts_with("pg");
    let catalog = format!("{catalog} ({columns} columns)");
    let line = |measure, runs: &Runs, target| Line {
        catalog: catalog.clone(),
        measure,
        value: seconds(runs.median()),
        spread: runs.spread(),
        ratio: Some(runs.median().as_secs_f64() / reference.median().as_secs_f64()),
        target,
    };
    let mut lines = vec![
        Line {
            ratio: None,
            ..line(reference_name, &reference, "")
        },
        line(
            "first refresh",
            &first,
            match reference_name {
                "pg_dump --schema-only" => "≤ 0.2×",
                "mysqldump --no-data" => "≤ 0.1×",
                _ => "",
            },
        ),
        line(
            "unchanged refresh",
            &unchanged,
            if postgres { "≤ 0.05×" } else { "" },
        ),
        line(
            "one table changed",
            &one,
            if postgres { "≤ 0.1×" } else { "" },
        ),
    ];
    lines.push(Line {
        catalog,
        measure: "worker peak RSS",
        value: format!("{rss} MB"),
        spread: String::new(),
        ratio: None,
        target: match rss_target_mb {
            0 => "",
            200 => "≤ 200 MB",
            _ => "≤ 300 MB",
        },
    });
    Ok(lines)
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Runs a reference tool `RUNS` times and times it.
fn timed(command: impl Fn() -> Command) -> anyhow::Result<Runs> {
    let mut runs = Runs(vec![]);
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = command().output().context("run the reference tool")?;
        ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        runs.0.push(started.elapsed());
    }
    Ok(runs)
}

async fn recreate(server: &LocalServer, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&server.database_url("postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await?;
    admin.close().await.ok();
    Ok(())
}

fn render(lines: &[Line]) -> String {
    let mut table = String::from(
        "| catalog | measure | median / memory | runs (min–max) | vs. reference | target |\n|---|---|---:|---:|---:|---|\n",
    );
    for line in lines {
        let ratio = line.ratio.map_or(String::new(), |r| format!("{r:.3}×"));
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            line.catalog, line.measure, line.value, line.spread, ratio, line.target
        ));
    }
    table
}

fn write_docs_table(path: &std::path::Path, table: &str) -> anyhow::Result<()> {
    let docs = std::fs::read_to_string(path)?;
    let (before, rest) = docs
        .split_once(DOCS_START)
        .context("the start marker in docs/benchmarks.md")?;
    let (_, after) = rest
        .split_once(DOCS_END)
        .context("the end marker in docs/benchmarks.md")?;
    let machine = Command::new("uname")
        .arg("-srm")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let stamp = chrono::Utc::now().format("%Y-%m-%d");
    std::fs::write(
        path,
        format!(
            "{before}{DOCS_START}\n_Measured {stamp} by `just bench-introspect` ({machine}, {} cores)._\n\n{table}{DOCS_END}{after}",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        ),
    )?;
    Ok(())
}
