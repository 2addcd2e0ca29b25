//! How the worker delivers webhooks.

use schemata_config::env_or;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Bound on one attempt, connect to last byte of the answer.
    pub timeout: Duration,
    /// Wait after the first failed attempt; doubled after each one…
    pub retry_base: Duration,
    /// …up to this.
    pub retry_max: Duration,
    /// No attempt is made this long after the event: the delivery is `failed`.
    pub retry_for: Duration,
    /// Look for due deliveries this often (NOTIFY wakes the sender sooner for new ones).
    pub poll_interval: Duration,
    /// Deliveries sent at once by this worker.
    pub concurrency: i64,
    /// Deliveries of one organization in flight at once, across workers.
    pub per_organization: i64,
}

impl WebhookSettings {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            timeout: Duration::from_millis(env_or("SCHEMATA_WEBHOOK_TIMEOUT_MS", 10_000)?),
            retry_base: Duration::from_millis(env_or("SCHEMATA_WEBHOOK_RETRY_BASE_MS", 10_000)?),
            retry_max: Duration::from_millis(env_or("SCHEMATA_WEBHOOK_RETRY_MAX_MS", 3_600_000)?),
            retry_for: Duration::from_secs(env_or("SCHEMATA_WEBHOOK_RETRY_FOR_SECS", 86_400)?),
            poll_interval: Duration::from_millis(env_or("SCHEMATA_WEBHOOK_POLL_MS", 1000)?),
            concurrency: env_or("SCHEMATA_WEBHOOK_CONCURRENCY", 8)?,
            per_organization: env_or("SCHEMATA_WEBHOOK_IN_FLIGHT_PER_ORGANIZATION", 4)?,
        })
    }

    /// The wait after failed attempt number `attempt` (1-based), with ±20 % jitter
    /// so receivers that come back are not hit by every sender in the same instant.
    pub fn delay_after(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let delay = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.retry_max);
        crate::jitter::jittered(delay)
    }
}
