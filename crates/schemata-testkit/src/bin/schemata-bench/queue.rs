//! Queue benchmark, with the API and the workers as separate processes (the
//! release `schemata` binary): enqueue rate across distinct connections,
//! status reads under `wrk -c32` (against `/healthz` on the same server as
//! the reference), pickup latency from the enqueue's commit to the job's
//! start, and the drain rate of two workers. Prints a table; asserts nothing.
//!
//! `schemata-bench queue [SCHEMATA_BINARY] [CONNECTIONS] [DRAIN]`

use schemata_core::Scope;
use schemata_store::{SecretBox, api_keys, organizations};
use schemata_testkit::{
    ServiceProcess, free_port, migrated_database, register_connections, source_database,
};
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};
use uuid::Uuid;

fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

/// How one enqueue phase went.
struct Enqueued {
    accepted: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
}

/// A refresh POST for each of `ids`, 16 at a time.
async fn enqueue(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    ids: &[Uuid],
) -> anyhow::Result<Enqueued> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut accepted = 0usize;
    let mut pending = ids.iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < 16 {
            let Some(id) = pending.next() else { break };
            let request = client
                .post(format!("{base}/api/connections/{id}/schemas/refresh"))
                .bearer_auth(key);
            tasks.spawn(async move {
                let sent = Instant::now();
                let ok = request.send().await.is_ok_and(|r| r.status() == 202);
                (ok, sent.elapsed())
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (ok, took) = done?;
        accepted += usize::from(ok);
        latencies.push(took.as_secs_f64() * 1000.0);
    }
    Ok(Enqueued {
        accepted,
        per_second: accepted as f64 / started.elapsed().as_secs_f64(),
        p50: quantile(&mut latencies, 0.5),
        p99: quantile(&mut latencies, 0.99),
    })
}

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let binary = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/schemata".into()),
    );
    let total: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let drain_count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    anyhow::ensure!(binary.exists(), "no {}: build it first", binary.display());

    let (database, pool) = migrated_database().await;
    let organization = organizations::ensure(&pool, "bench").await?;
    let key = api_keys::create(&pool, organization.id, "bench", &Scope::ALL)
        .await?
        .secret;
    let encryption_key = SecretBox::generate_key_hex();
    let secrets = SecretBox::from_hex(&encryption_key).map_err(anyhow::Error::msg)?;
    let source = source_database("CREATE TABLE t (id int PRIMARY KEY, name text);").await;
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
            ("DATABASE_URL".to_owned(), database.url().to_owned()),
            ("SCHEMATA_ENCRYPTION_KEY".to_owned(), encryption_key.clone()),
            ("SCHEMATA_LOG_FORMAT".to_owned(), "json".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            (
                "SCHEMATA_REFRESH_RATE_LIMIT_PER_MINUTE".to_owned(),
                "0".to_owned(),
            ),
            (
                "SCHEMATA_DATABASE_MAX_CONNECTIONS".to_owned(),
                "20".to_owned(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };
    let logs = std::env::temp_dir().join(format!("schemata-bench-queue-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&logs)?;
    let api_port = free_port();
    let api = ServiceProcess::spawn(
        &binary,
        "api",
        &env(&[("SCHEMATA_API_PORT", api_port.to_string())]),
        logs.join("api.log"),
    );
    let base = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the API never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1. Enqueue, no worker yet, 16 clients: the first half of the
    // connections cold (each request checks its source live), the second
    // half warm (found healthy a moment ago, as after `POST …/test` or a
    // recent refresh: the verdict is reused and the source left alone).
    let (cold_ids, warm_ids) = ids.split_at(ids.len() / 2);
    let cold = enqueue(&client, &base, &key, cold_ids).await?;
    sqlx::query(
        "UPDATE connections SET health_status = 'healthy', health_checked_at = now()
         WHERE id = ANY($1)",
    )
    .bind(warm_ids)
    .execute(&pool)
    .await?;
    let warm = enqueue(&client, &base, &key, warm_ids).await?;
    let accepted = cold.accepted + warm.accepted;

    // 2. Status reads, and /healthz as the reference, with wrk.
    let status_url = format!("{base}/api/connections/{}/schemas/status", ids[0]);
    let status = wrk(&status_url, Some(&key))?;
    let healthz = wrk(&format!("{base}/healthz"), None)?;

    // 3. Drain: two workers on the queued refreshes (the first `drain_count`
    // queued are timed).
    let workers: Vec<ServiceProcess> = (0..2)
        .map(|n| {
            ServiceProcess::spawn(
                &binary,
                "worker",
                &env(&[
                    ("SCHEMATA_WORKER_OPS_PORT", free_port().to_string()),
                    ("SCHEMATA_WORKER_CONCURRENCY", "8".to_owned()),
                    ("SCHEMATA_WORKER_SLOTS_PER_ORGANIZATION", "0".to_owned()),
                    // Every benchmark connection reads one server: the cap
                    // would measure itself, not the queue.
                    ("SCHEMATA_WORKER_SLOTS_PER_SOURCE_SERVER", "0".to_owned()),
                ]),
                logs.join(format!("worker-{n}.log")),
            )
        })
        .collect();
    let drain_started = Instant::now();
    let mut drained_at = None;
    while drain_started.elapsed() < Duration::from_secs(600) {
        let finished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM refresh_runs WHERE finished_at IS NOT NULL")
                .fetch_one(&pool)
                .await?;
        if finished as usize >= drain_count && drained_at.is_none() {
            drained_at = Some(drain_started.elapsed());
        }
        if finished as usize >= accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 4. Pickup: idle workers, one refresh at a time, commit → start.
    let mut pickups = Vec::new();
    for id in ids.iter().take(50) {
        let response = client
            .post(format!("{base}/api/connections/{id}/schemas/refresh"))
            .bearer_auth(&key)
            .send()
            .await?;
        let body: serde_json::Value = response.json().await?;
        let job: Uuid = body["data"]["job_id"]
            .as_str()
            .unwrap_or_default()
            .parse()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waited: Option<f64> = sqlx::query_scalar(
                "SELECT extract(epoch FROM started_at - queued_at)::float8 * 1000
                 FROM refresh_runs WHERE id = $1 AND started_at IS NOT NULL",
            )
            .bind(job)
            .fetch_optional(&pool)
            .await?;
            if let Some(ms) = waited {
                pickups.push(ms);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "refresh {job} never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let it finish, so the next one finds the workers idle.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(workers);
    drop(api);

    println!("\nSchemata queue benchmark: API and 2 workers as processes, {total} connections\n");
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    for (label, run, count) in [
        ("cold: each checks its source", &cold, cold_ids.len()),
        ("warm: healthy verdict < 10 s old", &warm, warm_ids.len()),
    ] {
        println!(
            "| enqueue, {label}: POST refresh, {count} distinct connections, 16 clients | {:.0} accepted/s ({} of {count}), p50 {:.1} ms, p99 {:.1} ms | ≥ 1,000/s, p99 ≤ 50 ms |",
            run.per_second, run.accepted, run.p50, run.p99
        );
    }
    println!(
        "| status reads, `wrk -c32 -t2 -d10s` | {:.0} req/s, p99 {} | ≥ 10,000/s, p99 ≤ 10 ms |",
        status.0, status.1
    );
    println!(
        "| reference: `/healthz`, same server and wrk | {:.0} req/s, p99 {} | |",
        healthz.0, healthz.1
    );
    println!(
        "| pickup, commit → start, idle workers (50) | p50 {:.1} ms, p99 {:.1} ms | p50 ≤ 10 ms, p99 ≤ 100 ms |",
        quantile(&mut pickups, 0.5),
        quantile(&mut pickups, 0.99)
    );
    if let Some(drained) = drained_at {
        println!(
            "| drain: {drain_count} refreshes of a one-table source, 2 workers × 8 | {:.1} refreshes/s ({:.1} s) | report |",
            drain_count as f64 / drained.as_secs_f64(),
            drained.as_secs_f64()
        );
    }
    Ok(())
}

/// Requests a second and the p99 latency `wrk` reports for `url`.
fn wrk(url: &str, bearer: Option<&str>) -> anyhow::Result<(f64, String)> {
    let mut command = Command::new("wrk");
    command.args(["-c32", "-t2", "-d10s", "--latency"]);
    if let Some(token) = bearer {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("wrk is needed (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|r| r.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no rate in wrk's output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|p| p.trim().to_owned())
        .unwrap_or_default();
    let non_2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::trim)
        .unwrap_or("");
    anyhow::ensure!(non_2xx.is_empty(), "wrk saw errors: {non_2xx}");
    Ok((rate, p99))
}
