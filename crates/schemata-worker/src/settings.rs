//! The worker's configuration, from environment variables with developer defaults.

use schemata_config::env_or;
use schemata_sources::SourceSettings;
use schemata_store::StoreSettings;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub store: StoreSettings,
    /// Limits of every conversation with a source, and the access policy.
    pub sources: SourceSettings,
    /// Refreshes run at once by this process.
    pub concurrency: usize,
    /// Fallback poll when a NOTIFY was missed; pickup is normally immediate.
    pub poll_interval: Duration,
    /// A worker silent for `heartbeat × missed_heartbeats` has its jobs re-queued.
    pub heartbeat_interval: Duration,
    pub missed_heartbeats: usize,
    /// Bound on reading a source (connect and every catalog query); writing the
    /// cache afterwards is not counted.
    pub job_timeout: Duration,
    /// Where `/healthz` and `/readyz` are served; 0 picks a free port.
    pub ops_host: String,
    pub ops_port: u16,
    /// Time given to running refreshes to finish on SIGTERM.
    pub shutdown_timeout: Duration,
    /// How often to fail lost runs and prune finished jobs.
    pub maintenance_interval: Duration,
    /// How often the scheduler looks for stale auto-refresh connections (zero: never).
    pub scheduler_interval: Duration,
    /// Most runs one scheduler pass queues.
    pub scheduler_batch: i64,
    /// Days a finished run stays in the history.
    pub history_retention_days: u32,
    /// How often to look for runs whose worker died (zero: never).
    pub orphan_check_interval: Duration,
    /// Attempts a refresh gets when its source fails transiently…
    pub retry_attempts: i32,
    /// …waiting this long before the second, three times as long before the third.
    pub retry_base_delay: Duration,
    /// Refreshes one organization may run at once across all workers (0: no cap).
    pub organization_slots: u32,
    /// Refreshes reading one source server at once across all workers (0: no cap).
    pub source_server_slots: u32,
    /// Webhook delivery: timeouts and retries.
    pub webhooks: crate::WebhookSettings,
}

impl WorkerSettings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_env_with(StoreSettings::from_env()?)
    }

    /// Everything but the store from the environment (`schemata dev` brings its own store).
    pub fn from_env_with(store: StoreSettings) -> Result<Self, String> {
        Ok(Self {
            store,
            sources: SourceSettings::from_env()?,
            concurrency: env_or("SCHEMATA_WORKER_CONCURRENCY", 4)?,
            poll_interval: Duration::from_millis(env_or("SCHEMATA_WORKER_POLL_INTERVAL_MS", 2000)?),
            heartbeat_interval: Duration::from_secs(env_or("SCHEMATA_WORKER_HEARTBEAT_SECS", 15)?),
            missed_heartbeats: env_or("SCHEMATA_WORKER_MISSED_HEARTBEATS", 4)?,
            job_timeout: Duration::from_secs(env_or("SCHEMATA_JOB_TIMEOUT_SECS", 600)?),
            ops_host: env_or("SCHEMATA_WORKER_OPS_HOST", "127.0.0.1".to_owned())?,
            ops_port: env_or("SCHEMATA_WORKER_OPS_PORT", 8081)?,
            shutdown_timeout: Duration::from_secs(env_or(
                "SCHEMATA_WORKER_SHUTDOWN_TIMEOUT_SECS",
                30,
            )?),
            maintenance_interval: Duration::from_secs(env_or(
                "SCHEMATA_WORKER_MAINTENANCE_SECS",
                60,
            )?),
            scheduler_interval: Duration::from_millis(env_or(
                "SCHEMATA_SCHEDULER_INTERVAL_MS",
                2000,
            )?),
            scheduler_batch: env_or("SCHEMATA_SCHEDULER_BATCH", 1000)?,
            history_retention_days: env_or("SCHEMATA_HISTORY_RETENTION_DAYS", 90)?,
            orphan_check_interval: Duration::from_millis(env_or("SCHEMATA_ORPHAN_CHECK_MS", 2000)?),
            retry_attempts: env_or("SCHEMATA_REFRESH_ATTEMPTS", 3)?,
            organization_slots: env_or("SCHEMATA_WORKER_SLOTS_PER_ORGANIZATION", 8)?,
            source_server_slots: env_or("SCHEMATA_WORKER_SLOTS_PER_SOURCE_SERVER", 4)?,
            webhooks: crate::WebhookSettings::from_env()?,
            retry_base_delay: Duration::from_millis(env_or(
                "SCHEMATA_REFRESH_RETRY_BASE_MS",
                30_000,
            )?),
        })
    }
}
