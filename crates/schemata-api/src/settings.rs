//! The API's configuration, from environment variables with developer defaults.

use schemata_store::{StoreSettings, env_or};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub store: StoreSettings,
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub http_workers: usize,
    /// Bound on the health check that gates every refresh.
    pub health_timeout: Duration,
    /// Bound on each statement sent to a source.
    pub source_statement_timeout: Duration,
    /// Health checks that may run against sources at once, per API process.
    pub max_concurrent_health_checks: usize,
}

impl ApiSettings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_env_with(StoreSettings::from_env()?)
    }

    /// Everything but the store from the environment (`schemata dev` brings its own store).
    pub fn from_env_with(store: StoreSettings) -> Result<Self, String> {
        Ok(Self {
            store,
            host: env_or("SCHEMATA_API_HOST", "127.0.0.1".to_owned())?,
            port: env_or("SCHEMATA_API_PORT", 8080)?,
            http_workers: env_or("SCHEMATA_API_WORKERS", 2)?,
            health_timeout: Duration::from_secs(env_or("SCHEMATA_HEALTH_TIMEOUT_SECS", 5)?),
            source_statement_timeout: Duration::from_secs(env_or(
                "SCHEMATA_SOURCE_STATEMENT_TIMEOUT_SECS",
                30,
            )?),
            max_concurrent_health_checks: env_or("SCHEMATA_MAX_CONCURRENT_HEALTH_CHECKS", 16)?,
        })
    }
}
