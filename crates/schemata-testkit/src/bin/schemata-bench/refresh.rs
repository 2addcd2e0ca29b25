//! Refresh benchmark on a fixture (pagila by default): the whole service in
//! process (POST → fresh), a full read forced by forgetting the catalog state,
//! the introspection alone, the health check, and `pg_dump --schema-only` on
//! the same database as the reference, in one run. Prints figures; asserts nothing.
//!
//! `schemata-bench refresh [ITERATIONS] [FIXTURE]`

use schemata_core::RefreshOptions;
use schemata_sources::{IntrospectionScope, Source, SourceLimits, connect};
use schemata_testkit::{TestApp, fixture, source_database};
use std::time::{Duration, Instant};

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let iterations: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let fixture_name = args
        .next()
        .unwrap_or_else(|| "pagila-schema.postgres.sql".into());
    let sql = match std::fs::read_to_string(&fixture_name) {
        Ok(sql) => sql,
        Err(_) => fixture(&fixture_name),
    };

    // A benchmark asks for refreshes faster than the per-key limit allows.
    let app = TestApp::spawn_with(|s| s.refresh_requests_per_minute = 0).await;
    let source_url = source_database(&sql).await;
    let connection_id = app.create_connection("bench", &source_url).await;
    let worker = app.spawn_worker();
    let refresh_path = format!("/api/connections/{connection_id}/schemas/refresh");

    let mut end_to_end = Vec::new();
    let mut in_worker = Vec::new();
    let mut forced = Vec::new();
    let mut objects = 0;
    for round in 0..=2 * iterations {
        // Odd rounds forget what the last refresh learned: a full read, as a first refresh.
        let full = round % 2 == 1;
        if full {
            sqlx::query("UPDATE connections SET catalog_state = NULL")
                .execute(&app.pool)
                .await?;
        }
        let started = Instant::now();
        let accepted = app.post_empty(&refresh_path).await;
        anyhow::ensure!(
            accepted.status() == 202,
            "refresh answered {}",
            accepted.status()
        );
        let status = loop {
            let status = app.status(&connection_id).await;
            if status["cache_status"] != "refreshing" {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        anyhow::ensure!(
            status["cache_status"] == "fresh",
            "refresh failed: {status}"
        );
        if full {
            forced.push(started.elapsed());
        } else if round > 0 {
            end_to_end.push(started.elapsed());
            in_worker.push(Duration::from_millis(
                status["last_result"]["duration_ms"]
                    .as_u64()
                    .unwrap_or_default(),
            ));
        }
        objects = status["last_result"]["table_count"]
            .as_u64()
            .unwrap_or_default()
            + status["last_result"]["view_count"]
                .as_u64()
                .unwrap_or_default();
    }
    worker.stop().await;

    let kind = schemata_core::SourceKind::Postgresql;
    let config =
        schemata_core::SourceConfig::parse(kind, &serde_json::json!({ "url": source_url.url() }))?;
    let policy = schemata_sources::AccessPolicy::build(
        &schemata_sources::PolicySettings::local_development(),
        &app.store.database_url,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let source = connect(kind, &config, SourceLimits::default(), &policy)?;
    let scope = IntrospectionScope {
        options: RefreshOptions::default(),
        ..IntrospectionScope::default()
    };
    let mut introspection = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        schemata_sources::introspect_all(&source, &scope).await?;
        introspection.push(started.elapsed());
    }

    let mut health = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        source.health().await?;
        health.push(started.elapsed());
    }

    let mut pg_dump = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        let output = std::process::Command::new("pg_dump")
            .args(["--schema-only", "-f", "/dev/null", source_url.url()])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        pg_dump.push(started.elapsed());
    }

    println!(
        "\nSchemata refresh benchmark: {fixture_name}, {objects} objects, {iterations} runs each\n"
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9}",
        "measure", "min ms", "p50 ms", "p95 ms", "max ms"
    );
    report("full read, POST → fresh (no catalog state)", &mut forced);
    report("unchanged refresh, POST → fresh", &mut end_to_end);
    report("unchanged refresh, inside the worker", &mut in_worker);
    report(
        "introspection alone (connect + catalog)",
        &mut introspection,
    );
    report("health check (connect + SELECT 1)", &mut health);
    report("reference: pg_dump --schema-only", &mut pg_dump);
    Ok(())
}

pub fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    println!(
        "{name:<44} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        at(0.0),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}
