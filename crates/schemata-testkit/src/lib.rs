//! Test helpers. Every test gets its own databases on a real PostgreSQL server:
//! `SCHEMATA_TEST_DATABASE_URL` or `DATABASE_URL` if set, else 127.0.0.1:5432,
//! else a private cluster under `target/`. Databases are dropped when the test
//! that made them ends.

mod app;
pub mod browser;
mod bulk;
pub mod contract;
mod databases;
pub mod dynamodb;
pub mod fake_postgres;
mod holders;
mod mariadb_server;
mod mysql;
pub mod oracle;
mod process;
pub mod snowflake;
pub mod tcp_proxy;
pub mod webhook_receiver;
mod worker;

pub use app::{ApiReplica, TestApp, send_checked};
pub use bulk::{free_port, register_connections};
pub use databases::{
    PROTECTED_PASSWORD, ServerLease, TestDatabase, fixture, fresh_database, load,
    migrated_database, password_protected_server, protected_database, server, source_database,
};
pub use mysql::{MysqlDatabase, mysql_database, mysql_dump_database};
pub use process::ServiceProcess;
pub use worker::TestWorker;

/// Logs for a test run only when asked: `TEST_LOG=1 cargo test`.
/// Every process that builds a reqwest client installs its crypto provider
/// first (see `schemata_sources::http`).
pub use schemata_sources::http::install_crypto_provider as install_tls;

pub fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        schemata_telemetry::init();
    }
}
