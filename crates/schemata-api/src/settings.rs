//! The API's configuration, from environment variables with developer defaults.

use schemata_config::env_or;
use schemata_sources::SourceSettings;
use schemata_store::StoreSettings;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub store: StoreSettings,
    /// Limits of every conversation with a source, and the access policy.
    pub sources: SourceSettings,
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub http_workers: usize,
    /// Bound on the whole health check that gates every refresh, waiting for a
    /// health-check slot included.
    pub health_timeout: Duration,
    /// Health checks that may run against sources at once, per API process…
    pub max_concurrent_health_checks: usize,
    /// …and how many of those one organization may hold.
    pub health_checks_per_organization: usize,
    /// Refresh requests one API key may make a minute (0: no limit).
    pub refresh_requests_per_minute: u32,
    /// How long a key found live is trusted without asking the database (zero:
    /// never); a revoked key works at most this long.
    pub api_key_cache_ttl: Duration,
    /// How long a status document is served from memory at most (zero: never);
    /// any change to it is seen at once (see `status_cache`).
    pub status_cache_ttl: Duration,
    /// A refresh of a connection found healthy this recently is queued
    /// without checking its source again (zero: always check).
    pub health_verdict_ttl: Duration,
}

impl ApiSettings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_env_with(StoreSettings::from_env()?)
    }

    /// Everything but the store from the environment (`schemata dev` brings its own store).
    pub fn from_env_with(store: StoreSettings) -> Result<Self, String> {
        let max_concurrent_health_checks = env_or("SCHEMATA_MAX_CONCURRENT_HEALTH_CHECKS", 16)?;
        let sources = SourceSettings::from_env()?;
        Ok(Self {
            store,
            // One setting (SCHEMATA_HEALTH_TIMEOUT_SECS): the whole check is
            // bounded by what a source gets to connect.
            health_timeout: sources.limits.connect_timeout,
            sources,
            host: env_or("SCHEMATA_API_HOST", "127.0.0.1".to_owned())?,
            port: env_or("SCHEMATA_API_PORT", 8080)?,
            http_workers: env_or("SCHEMATA_API_WORKERS", 2)?,
            max_concurrent_health_checks,
            health_checks_per_organization: env_or(
                "SCHEMATA_HEALTH_CHECKS_PER_ORGANIZATION",
                (max_concurrent_health_checks / 4).max(1),
            )?,
            refresh_requests_per_minute: env_or("SCHEMATA_REFRESH_RATE_LIMIT_PER_MINUTE", 60)?,
            api_key_cache_ttl: Duration::from_millis(env_or("SCHEMATA_API_KEY_CACHE_MS", 5000)?),
            status_cache_ttl: Duration::from_millis(env_or("SCHEMATA_STATUS_CACHE_MS", 5000)?),
            health_verdict_ttl: Duration::from_millis(env_or(
                "SCHEMATA_HEALTH_VERDICT_MS",
                10_000,
            )?),
        })
    }
}
