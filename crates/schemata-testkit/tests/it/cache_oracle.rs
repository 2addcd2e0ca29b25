//! The oracle of the cache (see `schemata_testkit::oracle`): on each kind of
//! source, a seeded random walk of DDL, refreshes of every kind and scope
//! changes; after every hard refresh the cache equals a brand-new
//! connection's full read. `just fuzz-refresh STEPS SEED` walks longer.

use schemata_testkit::{
    TestApp,
    oracle::{self, MariaDbSource, Oracle, PostgresSource, SnowflakeSource, SqliteSource},
};

/// Steps per source in the test suite.
const STEPS: usize = 150;

/// The walk asks for hundreds of refreshes a minute with one key.
async fn oracle_app() -> TestApp {
    TestApp::spawn_with(|s| s.refresh_requests_per_minute = 0).await
}

#[tokio::test]
async fn postgresql_cache_equals_a_full_read_after_every_hard_refresh() {
    let app = oracle_app().await;
    let (steps, seed) = oracle::budget(STEPS);
    let source = PostgresSource::new().await;
    let report = Oracle::new(&app, source, seed).await.run(steps).await;
    eprintln!("oracle postgresql: {report}");
}

#[tokio::test]
async fn mariadb_cache_equals_a_full_read_after_every_hard_refresh() {
    let app = oracle_app().await;
    let (steps, seed) = oracle::budget(STEPS);
    let source = MariaDbSource::new().await;
    let report = Oracle::new(&app, source, seed).await.run(steps).await;
    eprintln!("oracle mariadb: {report}");
}

#[tokio::test]
async fn sqlite_cache_equals_a_full_read_after_every_hard_refresh() {
    let app = oracle_app().await;
    let (steps, seed) = oracle::budget(STEPS);
    let source = SqliteSource::new(&app).await;
    let report = Oracle::new(&app, source, seed).await.run(steps).await;
    eprintln!("oracle sqlite: {report}");
}

#[tokio::test]
async fn snowflake_cache_equals_a_full_read_after_every_hard_refresh() {
    let app = oracle_app().await;
    let (steps, seed) = oracle::budget(STEPS);
    let source = SnowflakeSource::new().await;
    let report = Oracle::new(&app, source, seed).await.run(steps).await;
    eprintln!("oracle snowflake: {report}");
}
