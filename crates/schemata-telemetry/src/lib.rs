//! Logs and metrics. Logs: compact for people, JSON for machines (`SCHEMATA_LOG_FORMAT=json`),
//! filtered by `RUST_LOG` (default `info`, with sqlx's per-query lines muted).

pub mod metrics;

use tracing_subscriber::{EnvFilter, fmt};

const DEFAULT_FILTER: &str = "info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_postgres=warn";

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("SCHEMATA_LOG_FORMAT").is_ok_and(|f| f == "json");
    let result = if json {
        fmt()
            .with_env_filter(filter)
            .json()
            .flatten_event(true)
            .try_init()
    } else {
        fmt().with_env_filter(filter).compact().try_init()
    };
    drop(result);
}
