//! Scheduler benchmark: N connections with `auto_refresh` on, all pointing at
//! one tiny PostgreSQL source, every cache already holding that source (so
//! refreshes find nothing changed, as most scheduled refreshes do). On a
//! private PostgreSQL cluster with `pg_stat_statements`, it measures:
//!
//! 1. the search for due connections (the planner's own execution time);
//! 2. the steady state: due times spread over a TTL of 450 s (a demand of
//!    N / 450 refreshes a second, twice the demand of N at TTL 900 s), worker
//!    processes draining it for a window, and the lateness of each scheduled
//!    refresh (its start minus the time it was due);
//! 3. where a refresh's cost goes: statements sent to our database and to the
//!    source, sessions opened, WAL written, CPU in the workers and in
//!    PostgreSQL, per refresh;
//! 4. capacity: every connection due at once, the rate the workers drain.
//!
//! Prints figures against the reference (the demand); asserts nothing.
//!
//! `schemata-bench scheduler [CONNECTIONS] [SECONDS] [WORKERS] [CONCURRENCY] [CAPACITY_SECONDS]`

use schemata_localpg::{ClusterAuth, LocalServer, start_private_with, stop_private};
use schemata_store::{SecretBox, organizations, schedule};
use schemata_testkit::{ServiceProcess, free_port, register_connections};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// The TTL the steady state runs at: N / 450 s is twice N / 900 s.
const TTL_SECONDS: i32 = 450;
/// The demand the issue names: N connections at TTL 900 s.
const REFERENCE_TTL_SECONDS: f64 = 900.0;
const CLUSTER_PORT: u16 = 54351;

struct Args {
    connections: usize,
    seconds: u64,
    workers: usize,
    concurrency: usize,
    capacity_seconds: u64,
}

fn parse(args: Vec<String>) -> anyhow::Result<Args> {
    let mut args = args.into_iter();
    let mut next = |default: u64| -> anyhow::Result<u64> {
        Ok(args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    Ok(Args {
        connections: usize::try_from(next(100_000)?)?,
        seconds: next(600)?,
        workers: usize::try_from(next(1)?)?,
        concurrency: usize::try_from(next(16)?)?,
        capacity_seconds: next(60)?,
    })
}

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let args = parse(args)?;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = std::env::current_exe()?.with_file_name("schemata");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release --bin schemata",
        binary.display()
    );
    let dir = workspace.join("target/schemata-bench-scheduler-postgres");
    let _ = stop_private(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "starting a private PostgreSQL cluster with pg_stat_statements (port {CLUSTER_PORT})"
    );
    let server = start_private_with(
        &dir,
        CLUSTER_PORT,
        ClusterAuth::Trust,
        &[
            ("shared_preload_libraries", "pg_stat_statements"),
            ("pg_stat_statements.track", "all"),
            ("max_connections", "400"),
        ],
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let outcome = measure(&args, &server, &binary).await;
    if let Err(error) = stop_private(&dir) {
        eprintln!("could not stop the benchmark cluster: {error}");
    }
    outcome
}

async fn create_database(server: &LocalServer, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(&server.database_url("postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(server.database_url(name))
}

async fn measure(
    args: &Args,
    server: &LocalServer,
    binary: &std::path::Path,
) -> anyhow::Result<()> {
    let total = args.connections;
    let app_url = create_database(server, "schemata").await?;
    let source_url = create_database(server, "source").await?;
    let mut admin = PgConnection::connect(&server.database_url("postgres")).await?;
    sqlx::raw_sql("CREATE EXTENSION pg_stat_statements")
        .execute(&mut admin)
        .await?;
    {
        let mut source = PgConnection::connect(&source_url).await?;
        sqlx::raw_sql("CREATE TABLE t (id int PRIMARY KEY, name text); ANALYZE")
            .execute(&mut source)
            .await?;
        source.close().await?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&app_url)
        .await?;
    schemata_store::migrate(&pool).await?;
    let organization = organizations::ensure(&pool, "bench").await?;
    let encryption_key = SecretBox::generate_key_hex();
    let secrets = SecretBox::from_hex(&encryption_key).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let ids = register_connections(
        &pool,
        &secrets,
        organization.id,
        &source_url,
        total,
        TTL_SECONDS,
        true,
    )
    .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(&pool)
        .await?;
    println!(
        "\nSchemata scheduler benchmark: {total} connections, {} worker process(es) × {} slots \
         (registered in {:.1} s)\n",
        args.workers,
        args.concurrency,
        started.elapsed().as_secs_f64()
    );
    search_timings(&pool).await?;

    // The workers, as processes.
    let logs =
        std::env::temp_dir().join(format!("schemata-bench-scheduler-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let env = || -> Vec<(String, String)> {
        [
            ("DATABASE_URL", app_url.clone()),
            ("SCHEMATA_ENCRYPTION_KEY", encryption_key.clone()),
            ("SCHEMATA_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
            ("SCHEMATA_WORKER_OPS_PORT", free_port().to_string()),
            ("SCHEMATA_WORKER_CONCURRENCY", args.concurrency.to_string()),
            (
                "SCHEMATA_DATABASE_MAX_CONNECTIONS",
                (args.concurrency * 2 + 8).to_string(),
            ),
            ("SCHEMATA_SCHEDULER_INTERVAL_MS", "500".to_owned()),
            ("SCHEMATA_WORKER_POLL_INTERVAL_MS", "200".to_owned()),
            // One organization and one source server own them all: the
            // shares would measure themselves, not the scheduler.
            ("SCHEMATA_WORKER_SLOTS_PER_ORGANIZATION", "0".to_owned()),
            ("SCHEMATA_WORKER_SLOTS_PER_SOURCE_SERVER", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let mut workers: Vec<ServiceProcess> = (0..args.workers)
        .map(|n| {
            ServiceProcess::spawn(
                binary,
                "worker",
                &env(),
                logs.join(format!("worker-{n}.log")),
            )
        })
        .collect();

    // One real refresh, then every other cache made a copy of it: each
    // connection starts where a connection refreshed once before stands.
    warm_caches(&pool, ids[0]).await?;
    let demand = total as f64 / f64::from(TTL_SECONDS);
    let counters = Counters::read(&mut admin, &workers).await?;
    let window = Instant::now();
    let mut last_report = Instant::now();
    while window.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            let finished: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM refresh_runs WHERE finished_at IS NOT NULL AND trigger = 'schedule'",
            )
            .fetch_one(&pool)
            .await?;
            eprintln!(
                "  {:>4.0} s: {finished} scheduled refreshes finished ({:.1}/s)",
                window.elapsed().as_secs_f64(),
                finished as f64 / window.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = window.elapsed().as_secs_f64();
    let after = Counters::read(&mut admin, &workers).await?;
    let steady = SteadyState::read(&pool, elapsed).await?;
    print_steady(args, demand, &steady);
    print_costs(&mut admin, &counters, &after, steady.finished, args.workers).await?;

    if args.capacity_seconds > 0 {
        let capacity = capacity(&pool, args.capacity_seconds).await?;
        println!(
            "{:<62} {:>12}",
            "capacity: every connection due at once", "value"
        );
        println!("{:<62} {:>12.1}", "  refreshes / s drained", capacity);
        println!(
            "{:<62} {:>12.2}",
            "  drained / demand of N at TTL 900 s",
            capacity / (total as f64 / REFERENCE_TTL_SECONDS)
        );
    }
    for worker in &mut workers {
        worker.terminate();
    }
    Ok(())
}

/// The search for due connections, everything due (a cold start), nothing
/// due, and due times spread over the TTL (steady state).
async fn search_timings(pool: &PgPool) -> anyhow::Result<()> {
    let all_due = search_ms(pool, 1000).await?;
    sqlx::query("UPDATE connections SET last_refresh_finished = now(), cache_status = 'fresh', auto_refresh = true")
        .execute(pool)
        .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(pool)
        .await?;
    let none_due = search_ms(pool, 1000).await?;
    sqlx::query(
        "UPDATE connections SET last_refresh_finished = now() - make_interval(secs => $1 * random())",
    )
    .bind(f64::from(TTL_SECONDS))
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(pool)
        .await?;
    let spread = search_ms(pool, 1000).await?;
    println!(
        "{:<62} {:>12}",
        "search for due connections (EXPLAIN ANALYZE)", "median ms"
    );
    println!("{:<62} {:>12.3}", "  all due, first 1000", all_due);
    println!("{:<62} {:>12.3}", "  none due", none_due);
    println!(
        "{:<62} {:>12.3}",
        "  spread over the TTL (steady state), first 1000", spread
    );
    // Nobody is due until the caches are warm.
    sqlx::query("UPDATE connections SET auto_refresh = false")
        .execute(pool)
        .await?;
    Ok(())
}

/// Median execution time the planner reports for the search, over 7 runs.
async fn search_ms(pool: &PgPool, batch: i64) -> anyhow::Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..7 {
        let plan = schedule::explain_due(pool, batch).await?;
        let ms = plan
            .lines()
            .find_map(|l| l.trim().strip_prefix("Execution Time: "))
            .and_then(|t| t.trim_end_matches(" ms").parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no execution time in {plan}"))?;
        samples.push(ms);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Refreshes `first` for real, copies its cache to every other connection,
/// then spreads every connection's due time over the TTL and turns
/// auto-refresh on. The due times are kept in `bench_due` for the lateness.
async fn warm_caches(pool: &PgPool, first: uuid::Uuid) -> anyhow::Result<()> {
    sqlx::query("UPDATE connections SET auto_refresh = true, last_refresh_finished = NULL, cache_status = 'none' WHERE id = $1")
        .bind(first)
        .execute(pool)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: Option<String> = sqlx::query_scalar(
            "SELECT status FROM refresh_runs WHERE connection_id = $1 AND finished_at IS NOT NULL LIMIT 1",
        )
        .bind(first)
        .fetch_optional(pool)
        .await?;
        match done.as_deref() {
            Some("succeeded") => break,
            Some(other) => anyhow::bail!("the warm-up refresh ended {other}"),
            None => {}
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the warm-up refresh never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query(
        "INSERT INTO schema_objects
         SELECT (jsonb_populate_record(NULL::schema_objects,
                     to_jsonb(o) || jsonb_build_object('connection_id', c.id))).*
         FROM schema_objects o CROSS JOIN connections c
         WHERE o.connection_id = $1 AND c.id <> $1",
    )
    .bind(first)
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE connections c SET catalog_state = w.catalog_state, schema_version = w.schema_version,
             cache_keeps_unlisted = w.cache_keeps_unlisted, last_run_id = w.last_run_id,
             source_server = w.source_server, last_refresh_started = w.last_refresh_started
         FROM connections w WHERE w.id = $1 AND c.id <> $1",
    )
    .bind(first)
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE connections SET cache_status = 'fresh', auto_refresh = true, refresh_ttl_seconds = $1,
             last_refresh_finished = now() - make_interval(secs => $1 * random())",
    )
    .bind(TTL_SECONDS)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM refresh_runs WHERE connection_id <> $1")
        .bind(first)
        .execute(pool)
        .await?;
    sqlx::query("CREATE TABLE bench_due AS SELECT id, refresh_due_at AS due_at, now() AS window_start FROM connections")
        .execute(pool)
        .await?;
    sqlx::query("VACUUM ANALYZE connections, schema_objects")
        .execute(pool)
        .await?;
    Ok(())
}

/// What the window did: refreshes and their lateness.
struct SteadyState {
    elapsed: f64,
    finished: i64,
    succeeded: i64,
    due: i64,
    never_started: i64,
    lateness_p50: f64,
    lateness_p99: f64,
    lateness_max: f64,
}

impl SteadyState {
    async fn read(pool: &PgPool, elapsed: f64) -> anyhow::Result<Self> {
        let (finished, succeeded): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE finished_at IS NOT NULL),
                    count(*) FILTER (WHERE status = 'succeeded')
             FROM refresh_runs WHERE trigger = 'schedule' AND queued_at >= (SELECT min(window_start) FROM bench_due)",
        )
        .fetch_one(pool)
        .await?;
        // Each connection due in the window: its first scheduled start
        // (or, never started, the end of the window) minus its due time.
        let (due, never_started, p50, p99, max): (i64, i64, Option<f64>, Option<f64>, Option<f64>) =
            sqlx::query_as(
                "WITH ends AS (SELECT min(window_start) + make_interval(secs => $1) AS window_end FROM bench_due),
                 late AS (
                     SELECT d.id,
                            extract(epoch FROM coalesce(
                                (SELECT min(r.started_at) FROM refresh_runs r
                                 WHERE r.connection_id = d.id AND r.trigger = 'schedule'),
                                e.window_end) - greatest(d.due_at, d.window_start))::float8 AS seconds,
                            NOT EXISTS (SELECT 1 FROM refresh_runs r
                                        WHERE r.connection_id = d.id AND r.trigger = 'schedule'
                                          AND r.started_at IS NOT NULL) AS never
                     FROM bench_due d, ends e WHERE d.due_at <= e.window_end)
                 SELECT count(*), count(*) FILTER (WHERE never),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
                        percentile_cont(0.99) WITHIN GROUP (ORDER BY seconds),
                        max(seconds)
                 FROM late",
            )
            .bind(elapsed)
            .fetch_one(pool)
            .await?;
        Ok(Self {
            elapsed,
            finished,
            succeeded,
            due,
            never_started,
            lateness_p50: p50.unwrap_or_default(),
            lateness_p99: p99.unwrap_or_default(),
            lateness_max: max.unwrap_or_default(),
        })
    }
}

fn print_steady(args: &Args, demand: f64, steady: &SteadyState) {
    let rate = steady.finished as f64 / steady.elapsed;
    let reference = args.connections as f64 / REFERENCE_TTL_SECONDS;
    println!(
        "\n{:<62} {:>12}",
        format!(
            "steady state, TTL {TTL_SECONDS} s, {:.0} s window",
            steady.elapsed
        ),
        "value"
    );
    println!(
        "{:<62} {:>12.1}",
        "  demand: connections / TTL, per s", demand
    );
    println!(
        "{:<62} {:>12.2}",
        "  demand / demand of N at TTL 900 s",
        demand / reference
    );
    println!(
        "{:<62} {:>12}",
        "  scheduled refreshes finished (succeeded)",
        format!("{} ({})", steady.finished, steady.succeeded)
    );
    println!("{:<62} {:>12.1}", "  refreshes / s sustained", rate);
    println!("{:<62} {:>12.2}", "  sustained / demand", rate / demand);
    println!(
        "{:<62} {:>12.2}",
        "  sustained / demand of N at TTL 900 s",
        rate / reference
    );
    println!(
        "{:<62} {:>12}",
        "  connections due in the window (never started)",
        format!("{} ({})", steady.due, steady.never_started)
    );
    println!(
        "{:<62} {:>12.2}",
        "  lateness p50, s (start − due)", steady.lateness_p50
    );
    println!("{:<62} {:>12.2}", "  lateness p99, s", steady.lateness_p99);
    println!("{:<62} {:>12.2}", "  lateness max, s", steady.lateness_max);
}

/// Counters read before and after the window.
struct Counters {
    /// Statements executed, per database (pg_stat_statements).
    statements: Vec<(String, i64)>,
    sessions: Vec<(String, i64)>,
    wal_lsn: String,
    /// CPU ticks of the whole machine that were busy.
    machine_busy_ticks: u64,
    workers_ticks: u64,
    own_ticks: u64,
    at: Instant,
}

impl Counters {
    async fn read(admin: &mut PgConnection, workers: &[ServiceProcess]) -> anyhow::Result<Self> {
        let statements = sqlx::query_as(
            "SELECT d.datname::text, coalesce(sum(s.calls), 0)::int8
             FROM pg_database d LEFT JOIN pg_stat_statements s ON s.dbid = d.oid
             WHERE d.datname IN ('schemata', 'source') GROUP BY d.datname ORDER BY 1",
        )
        .fetch_all(&mut *admin)
        .await?;
        let sessions = sqlx::query_as(
            "SELECT datname::text, sessions FROM pg_stat_database
             WHERE datname IN ('schemata', 'source') ORDER BY 1",
        )
        .fetch_all(&mut *admin)
        .await?;
        let wal_lsn = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut *admin)
            .await?;
        Ok(Self {
            statements,
            sessions,
            wal_lsn,
            machine_busy_ticks: machine_busy_ticks()?,
            workers_ticks: workers.iter().map(|w| process_ticks(w.pid())).sum(),
            own_ticks: process_ticks(std::process::id()),
            at: Instant::now(),
        })
    }
}

fn delta(before: &[(String, i64)], after: &[(String, i64)], name: &str) -> i64 {
    let find = |list: &[(String, i64)]| list.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    find(after) - find(before)
}

async fn print_costs(
    admin: &mut PgConnection,
    before: &Counters,
    after: &Counters,
    refreshes: i64,
    workers: usize,
) -> anyhow::Result<()> {
    let per = |value: f64| {
        if refreshes > 0 {
            value / refreshes as f64
        } else {
            0.0
        }
    };
    let wal: f64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8")
        .bind(&after.wal_lsn)
        .bind(&before.wal_lsn)
        .fetch_one(&mut *admin)
        .await?;
    let tick_ms = 1000.0 / 100.0;
    let machine = (after.machine_busy_ticks - before.machine_busy_ticks) as f64 * tick_ms;
    let in_workers = (after.workers_ticks - before.workers_ticks) as f64 * tick_ms;
    let own = (after.own_ticks - before.own_ticks) as f64 * tick_ms;
    println!(
        "\n{:<62} {:>12}",
        "cost of one refresh (window totals / refreshes)", "value"
    );
    println!(
        "{:<62} {:>12.1}",
        "  statements to our database",
        per(delta(&before.statements, &after.statements, "schemata") as f64)
    );
    println!(
        "{:<62} {:>12.2}",
        "  sessions opened on our database",
        per(delta(&before.sessions, &after.sessions, "schemata") as f64)
    );
    println!(
        "{:<62} {:>12.1}",
        "  statements to the source",
        per(delta(&before.statements, &after.statements, "source") as f64)
    );
    println!(
        "{:<62} {:>12.2}",
        "  sessions opened on the source",
        per(delta(&before.sessions, &after.sessions, "source") as f64)
    );
    println!("{:<62} {:>12.0}", "  WAL bytes written", per(wal));
    println!(
        "{:<62} {:>12.2}",
        format!("  CPU ms in the worker process(es) ({workers})"),
        per(in_workers)
    );
    println!(
        "{:<62} {:>12.2}",
        "  CPU ms elsewhere (PostgreSQL, for queue, cache and source)",
        per((machine - in_workers - own).max(0.0))
    );
    println!(
        "{:<62} {:>12.1}",
        "  machine CPU busy over the window, % of 2 cores",
        100.0 * machine / (2000.0 * after.at.duration_since(before.at).as_secs_f64())
    );
    let top: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90), s.calls, s.total_exec_time
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = 'schemata' ORDER BY s.calls DESC LIMIT 20",
    )
    .fetch_all(&mut *admin)
    .await?;
    println!("\n  our database's statements by calls per refresh (and ms per call):");
    for (query, calls, total_ms) in top {
        println!(
            "  {:>6.2} {:>7.3}  {query}",
            per(calls as f64),
            total_ms / calls.max(1) as f64
        );
    }
    Ok(())
}

/// Busy clock ticks of all cores since boot (`/proc/stat`).
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    // cpu user nice system idle iowait irq softirq steal …
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    Ok([0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum())
}

/// User + system clock ticks of a process (`/proc/PID/stat`).
fn process_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3; utime and stime are fields 14 and 15.
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// Every connection due at once: the rate the workers drain, over `seconds`.
async fn capacity(pool: &PgPool, seconds: u64) -> anyhow::Result<f64> {
    let before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_runs WHERE finished_at IS NOT NULL")
            .fetch_one(pool)
            .await?;
    sqlx::query("UPDATE connections SET last_refresh_finished = now() - interval '1 hour' WHERE cache_status <> 'refreshing'")
        .execute(pool)
        .await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_runs WHERE finished_at IS NOT NULL")
            .fetch_one(pool)
            .await?;
    Ok((after - before) as f64 / started.elapsed().as_secs_f64())
}
