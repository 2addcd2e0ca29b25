//! Test helpers. Every test gets its own databases on a real PostgreSQL server:
//! `SCHEMATA_TEST_DATABASE_URL` or `DATABASE_URL` if set, else 127.0.0.1:5432,
//! else a private cluster under `target/`.

mod app;
mod databases;
mod worker;

pub use app::TestApp;
pub use databases::{
    fixture, fresh_database, migrated_database, password_protected_server, server, source_database,
};
pub use worker::TestWorker;

/// Logs for a test run only when asked: `TEST_LOG=1 cargo test`.
pub fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        schemata_telemetry::init();
    }
}
