//! Scheduler benchmark: N connections with `auto_refresh` on (all pointing at
//! one tiny source), TTL 900 s. Measures the search for due connections (the
//! planner's own execution time, with everything due and with nothing due) and
//! how many scheduled refreshes a second one worker process sustains, with where
//! a run's time goes. The reference is the demand: N / 900 refreshes a second.
//! Prints figures; asserts nothing.
//!
//! `schemata-bench scheduler [CONNECTIONS] [SECONDS] [CONCURRENCY]`

use schemata_store::schedule;
use schemata_testkit::{TestApp, register_connections, source_database};
use std::time::{Duration, Instant};

const TTL_SECONDS: i32 = 900;

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let total: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(60);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);

    let app = TestApp::spawn().await;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY, name text);").await;
    let secrets = app.store.secret_box().map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    register_connections(
        &app.pool,
        &secrets,
        app.organization_id,
        source.url(),
        total,
        TTL_SECONDS,
        true,
    )
    .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(&app.pool)
        .await?;
    println!(
        "\nSchemata scheduler benchmark: {total} connections, TTL {TTL_SECONDS} s (registered in {:.1} s)\n",
        started.elapsed().as_secs_f64()
    );

    // The search, everything due (a cold start), then nothing due (steady state).
    let all_due = search_ms(&app, 1000).await?;
    sqlx::query("UPDATE connections SET last_refresh_finished = now(), cache_status = 'fresh'")
        .execute(&app.pool)
        .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(&app.pool)
        .await?;
    let none_due = search_ms(&app, 1000).await?;
    // Steady state: 1/900 of them due each second, spread over the TTL.
    sqlx::query(
        "UPDATE connections SET last_refresh_finished = now() - make_interval(secs => $1 * random())",
    )
    .bind(f64::from(TTL_SECONDS))
    .execute(&app.pool)
    .await?;
    sqlx::query("VACUUM ANALYZE connections")
        .execute(&app.pool)
        .await?;
    let spread = search_ms(&app, 1000).await?;
    println!(
        "{:<58} {:>10}",
        "search for due connections (EXPLAIN ANALYZE)", "median ms"
    );
    println!("{:<58} {:>10.3}", "  all due, first 1000", all_due);
    println!("{:<58} {:>10.3}", "  none due", none_due);
    println!(
        "{:<58} {:>10.3}",
        "  spread over the TTL (steady state), first 1000", spread
    );
    println!(
        "\nplan (steady state):\n{}\n",
        schedule::explain_due(&app.pool, 1000).await?
    );

    // Throughput: make every connection due and let one worker drain them.
    sqlx::query("UPDATE connections SET last_refresh_finished = now() - interval '1 hour'")
        .execute(&app.pool)
        .await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency + 8)?)
        .connect(&app.store.database_url)
        .await?;
    let mut settings = app.worker_settings();
    settings.concurrency = concurrency;
    settings.scheduler_interval = Duration::from_millis(500);
    settings.scheduler_batch = 1000;
    // One organization owns them all: no share to keep.
    settings.organization_slots = 0;
    settings.source_server_slots = 0;
    settings.poll_interval = Duration::from_millis(200);
    let worker = app.spawn_worker_with_pool(settings, pool);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    worker.stop().await;
    let (finished, succeeded, queued_total): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE finished_at IS NOT NULL),
                count(*) FILTER (WHERE status = 'succeeded'),
                count(*)
         FROM refresh_runs",
    )
    .fetch_one(&app.pool)
    .await?;
    let (wait_ms, run_ms, work_ms): (Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT avg(extract(epoch FROM started_at - queued_at) * 1000)::float8,
                avg(extract(epoch FROM finished_at - started_at) * 1000)::float8,
                avg((result->>'duration_ms')::float8)
         FROM refresh_runs WHERE status = 'succeeded'",
    )
    .fetch_one(&app.pool)
    .await?;
    let demand = total as f64 / f64::from(TTL_SECONDS);
    let rate = finished as f64 / elapsed;
    println!("{:<58} {:>10}", "throughput, one worker process", "value");
    println!("{:<58} {:>10}", "  worker concurrency", concurrency);
    println!("{:<58} {:>10.1}", "  window, s", elapsed);
    println!(
        "{:<58} {:>10}",
        "  runs queued by the scheduler", queued_total
    );
    println!(
        "{:<58} {:>10}",
        "  runs finished (succeeded)",
        format!("{finished} ({succeeded})")
    );
    println!("{:<58} {:>10.1}", "  refreshes / s sustained", rate);
    println!(
        "{:<58} {:>10.1}",
        "  reference: demand, connections / TTL, per s", demand
    );
    println!("{:<58} {:>10.2}", "  sustained / demand", rate / demand);
    println!(
        "{:<58} {:>10.1}",
        "  mean queue wait of a finished run, ms",
        wait_ms.unwrap_or_default()
    );
    println!(
        "{:<58} {:>10.1}",
        "  mean claim → close of a run, ms",
        run_ms.unwrap_or_default()
    );
    println!(
        "{:<58} {:>10.1}",
        "  mean of it inside the refresh (result.duration_ms)",
        work_ms.unwrap_or_default()
    );
    Ok(())
}

/// Median execution time the planner reports for the search, over 7 runs.
async fn search_ms(app: &TestApp, batch: i64) -> anyhow::Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..7 {
        let plan = schedule::explain_due(&app.pool, batch).await?;
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
