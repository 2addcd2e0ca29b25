//! `just chaos`: the API and two workers as real processes on a private
//! PostgreSQL cluster; 200 connections refreshed; one worker SIGKILLed
//! mid-refresh; the cluster stopped for 15 s and started again. Then, per
//! refresh: lost (never finished), stuck (`running` with no live worker),
//! duplicated (two runs of one connection at once), half-written (a cache
//! that does not hold the source's objects). Prints the recovery times and
//! exits non-zero unless all four are zero.
//!
//! `schemata-chaos [SCHEMATA_BINARY] [CONNECTIONS] [OUTAGE_SECS]`

use schemata_core::Scope;
use schemata_localpg::{ClusterAuth, start_private, stop_private};
use schemata_store::{SecretBox, api_keys, organizations};
use schemata_testkit::{ServiceProcess, fixture, free_port, register_connections, source_database};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    schemata_testkit::install_tls();
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/debug/schemata".into()),
    );
    let total: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let outage = Duration::from_secs(args.next().map(|a| a.parse()).transpose()?.unwrap_or(15));
    anyhow::ensure!(binary.exists(), "no {}: build it first", binary.display());

    // Schemata's own database, on a cluster this run may stop.
    let dir = std::path::absolute(format!(
        "target/schemata-chaos-{}",
        &Uuid::new_v4().simple().to_string()[..8]
    ))?;
    let port = free_port();
    let server = start_private(&dir, port, ClusterAuth::Trust)
        .await
        .map_err(anyhow::Error::msg)?;
    let cluster = server.private_dir.clone().unwrap_or(dir.clone());
    let outcome = run(&binary, total, outage, &dir, port, &server).await;
    let _ = stop_private(&cluster);
    let _ = std::fs::remove_dir_all(&cluster);
    let failures = outcome?;
    if failures > 0 {
        eprintln!("chaos: {failures} refresh(es) lost, stuck, duplicated or half-written");
        std::process::exit(1);
    }
    println!("chaos: every refresh accounted for");
    Ok(())
}

async fn run(
    binary: &std::path::Path,
    total: usize,
    outage: Duration,
    dir: &std::path::Path,
    port: u16,
    server: &schemata_localpg::LocalServer,
) -> anyhow::Result<usize> {
    server
        .ensure_database("schemata")
        .await
        .map_err(anyhow::Error::msg)?;
    let database_url = server.database_url("schemata");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&database_url)
        .await?;
    schemata_store::migrate(&pool).await?;
    let organization = organizations::ensure(&pool, "chaos").await?;
    let key = api_keys::create(&pool, organization.id, "chaos", &Scope::ALL)
        .await?
        .secret;
    let encryption_key = SecretBox::generate_key_hex();
    let secrets = SecretBox::from_hex(&encryption_key).map_err(anyhow::Error::msg)?;

    // The sources stay up throughout: pagila, a refresh of some tens of ms.
    let source = source_database(&fixture("pagila-schema.postgres.sql")).await;
    let ids = register_connections(
        &pool,
        &secrets,
        organization.id,
        source.url(),
        total,
        900,
        false,
    )
    .await?;

    let env = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("SCHEMATA_ENCRYPTION_KEY".to_owned(), encryption_key.clone()),
            ("SCHEMATA_LOG_FORMAT".to_owned(), "json".to_owned()),
            ("SCHEMATA_API_PORT".to_owned(), "0".to_owned()),
            (
                "SCHEMATA_REFRESH_RATE_LIMIT_PER_MINUTE".to_owned(),
                "0".to_owned(),
            ),
            ("SCHEMATA_WORKER_CONCURRENCY".to_owned(), "1".to_owned()),
            (
                "SCHEMATA_WORKER_POLL_INTERVAL_MS".to_owned(),
                "500".to_owned(),
            ),
            ("SCHEMATA_ORPHAN_CHECK_MS".to_owned(), "1000".to_owned()),
            (
                "SCHEMATA_REFRESH_RETRY_BASE_MS".to_owned(),
                "2000".to_owned(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };
    let logs = dir.with_extension("logs");
    std::fs::create_dir_all(&logs)?;
    let mut api = ServiceProcess::spawn(binary, "api", &env(&[]), logs.join("api.log"));
    let api_port = api.wait_for_line("schemata-api listening").await["port"]
        .as_u64()
        .unwrap_or_default();
    // Every connection asks for a refresh.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let mut accepted = 0;
    for chunk in ids.chunks(16) {
        let mut requests = tokio::task::JoinSet::new();
        for id in chunk {
            let request = client
                .post(format!(
                    "http://127.0.0.1:{api_port}/api/connections/{id}/schemas/refresh"
                ))
                .bearer_auth(&key)
                .send();
            requests.spawn(request);
        }
        while let Some(response) = requests.join_next().await {
            if response.is_ok_and(|r| r.is_ok_and(|r| r.status() == 202)) {
                accepted += 1;
            }
        }
    }
    println!(
        "chaos: {accepted} of {total} refreshes accepted in {:?}",
        started.elapsed()
    );

    let mut workers: Vec<ServiceProcess> = (0..2)
        .map(|n| {
            ServiceProcess::spawn(
                binary,
                "worker",
                &env(&[("SCHEMATA_WORKER_OPS_PORT", free_port().to_string())]),
                logs.join(format!("worker-{n}.log")),
            )
        })
        .collect();
    for worker in &mut workers {
        worker.wait_for_line("schemata-worker started").await;
    }
    println!("chaos: 2 workers up on {accepted} queued refreshes of one pagila source");

    // SIGKILL a worker while it runs refreshes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running: i64 =
            sqlx::query_scalar("SELECT count(*) FROM refresh_runs WHERE status = 'running'")
                .fetch_one(&pool)
                .await?;
        // Both workers busy (one slot each): the one killed holds a refresh.
        if running >= 2 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_pid = workers[0].pid();
    let at_kill: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT id, attempt FROM refresh_runs WHERE status = 'running'")
            .fetch_all(&pool)
            .await?;
    workers[0].kill();
    let killed_at = Instant::now();
    println!(
        "chaos: SIGKILLed worker pid {killed_pid} with {} refresh(es) running",
        at_kill.len()
    );
    // Taken over: every run running at the kill has finished or runs again
    // (a later attempt).
    let run_ids: Vec<Uuid> = at_kill.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i32> = at_kill.iter().map(|(_, a)| *a).collect();
    let recovered = wait_until(&pool, Duration::from_secs(30), async |pool| {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM refresh_runs r JOIN UNNEST($1::uuid[], $2::int[]) AS k (id, attempt)
               ON r.id = k.id
             WHERE r.status = 'running' AND r.attempt = k.attempt",
        )
        .bind(&run_ids)
        .bind(&attempts)
        .fetch_one(pool)
        .await?;
        // None of them is still in the attempt it had at the kill.
        Ok(waiting == 0)
    })
    .await?;
    println!(
        "chaos: refreshes running at the kill all finished or taken over {:?} after it",
        recovered.map(|_| killed_at.elapsed())
    );

    // Our database goes away, and comes back.
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_runs WHERE status IN ('queued', 'running')",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    println!("chaos: {pending} refresh(es) still queued or running when PostgreSQL stops");
    stop_private(&server.private_dir.clone().unwrap_or(dir.to_owned()))
        .map_err(anyhow::Error::msg)?;
    println!("chaos: PostgreSQL stopped for {outage:?}");
    tokio::time::sleep(outage).await;
    start_private(dir, port, ClusterAuth::Trust)
        .await
        .map_err(anyhow::Error::msg)?;
    let back = Instant::now();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&database_url)
        .await?;
    println!("chaos: PostgreSQL started again");
    // When the first refresh finishes after the return, and when none is left.
    let mut first_after = None;
    let mut drained = None;
    let limit = Instant::now() + Duration::from_secs(180);
    while drained.is_none() && Instant::now() < limit {
        let counts: Result<(i64, i64), _> = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE finished_at > now() - make_interval(secs => $1)),
                    count(*) FILTER (WHERE status IN ('queued', 'running'))
             FROM refresh_runs",
        )
        .bind(back.elapsed().as_secs_f64())
        .fetch_one(&pool)
        .await;
        if let Ok((finished, active)) = counts {
            if finished > 0 && first_after.is_none() {
                first_after = Some(back.elapsed());
            }
            if active == 0 {
                drained = Some(back.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "chaos: first refresh finished {first_after:?} after PostgreSQL returned; queue drained after {drained:?}"
    );
    let alive = workers.iter_mut().skip(1).all(|w| w.is_running()) && api.is_running();
    println!("chaos: API and surviving worker still running: {alive}");

    report(&pool, &ids, total, alive).await
}

/// Polls `done` every 100 ms until it holds (Some(elapsed)) or `limit` passes (None).
async fn wait_until(
    pool: &sqlx::PgPool,
    limit: Duration,
    done: impl AsyncFn(&sqlx::PgPool) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done(pool).await.unwrap_or(false) {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

async fn report(
    pool: &sqlx::PgPool,
    ids: &[Uuid],
    total: usize,
    alive: bool,
) -> anyhow::Result<usize> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM refresh_runs GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?;
    // Lost: a connection whose refresh never finished.
    let lost: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM connections c
         WHERE NOT EXISTS (SELECT 1 FROM refresh_runs r WHERE r.connection_id = c.id AND r.finished_at IS NOT NULL)",
    )
    .fetch_one(pool)
    .await?;
    // Stuck: running with its claim lock free (nobody works on it).
    let stuck = schemata_store::runs::orphaned(pool).await?.len() as i64;
    // Duplicated: two runs of one connection whose running times overlap.
    let duplicated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_runs a JOIN refresh_runs b
           ON a.connection_id = b.connection_id AND a.id < b.id
         WHERE a.started_at IS NOT NULL AND b.started_at IS NOT NULL
           AND tstzrange(a.started_at, coalesce(a.finished_at, now()))
               && tstzrange(b.started_at, coalesce(b.finished_at, now()))",
    )
    .fetch_one(pool)
    .await?;
    // Half-written: a fresh cache that does not hold what pagila has (the
    // most objects any connection got is what a whole refresh writes).
    let half_written: i64 = sqlx::query_scalar(
        "WITH counts AS (
             SELECT c.id, count(o.name) AS objects FROM connections c
             LEFT JOIN schema_objects o ON o.connection_id = c.id
             WHERE c.cache_status = 'fresh' GROUP BY c.id)
         SELECT count(*) FROM counts WHERE objects <> (SELECT max(objects) FROM counts)",
    )
    .fetch_one(pool)
    .await?;
    let fresh: i64 =
        sqlx::query_scalar("SELECT count(*) FROM connections WHERE cache_status = 'fresh'")
            .fetch_one(pool)
            .await?;
    println!(
        "\nchaos report ({total} connections, {} ids checked)",
        ids.len()
    );
    println!("  runs by status: {by_status:?}");
    println!("  connections fresh: {fresh}");
    let rerun: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_runs WHERE attempt > 1")
        .fetch_one(pool)
        .await?;
    println!("  refreshes that needed another attempt: {rerun}");
    println!("  lost: {lost}");
    println!("  stuck: {stuck}");
    println!("  duplicated: {duplicated}");
    println!("  half-written: {half_written}");
    let failures = usize::try_from(lost + stuck + duplicated + half_written).unwrap_or(usize::MAX)
        + usize::from(!alive);
    Ok(failures)
}
