//! What a refresh needs from the worker process, and how it tries again.

use schemata_sources::{AccessPolicy, SourceLimits};
use schemata_store::{
    PgPool, SecretBox,
    runs::{ClaimPool, Slots},
};
use std::time::Duration;

/// What a refresh needs from the process: our database, the key, the limits and
/// the access policy every source passes.
pub struct RefreshContext {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub limits: SourceLimits,
    pub policy: AccessPolicy,
    pub job_timeout: Duration,
    pub retry: RetryPolicy,
    /// Refreshes one organization, and one source server, may run at once
    /// across all workers: one tenant's burst or one slow server cannot take
    /// every slot.
    pub slots: Slots,
    /// Sessions that hold the claims of running refreshes.
    pub claim_pool: ClaimPool,
    /// Due when a stopping worker's grace period is over.
    pub hand_back: crate::HandBack,
}

/// How often, and after how long, a refresh whose source failed transiently
/// is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1: never again).
    pub attempts: i32,
    /// The wait before the second attempt; each later one waits three times
    /// the one before, give or take a fifth (jitter, so that refreshes failed
    /// by one outage do not all come back at once).
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(10);
        crate::jitter::jittered(self.base_delay.saturating_mul(3u32.pow(exponent)))
    }
}

/// When a delivery finds its organization's (or its server's) slots all in
/// use, it is tried again after this.
pub const SHARE_RETRY: Duration = Duration::from_secs(2);

/// When a delivery finds its connection busy, it is tried again after this; a
/// run that finishes wakes the follow-up behind it sooner.
pub const BUSY_RETRY: Duration = Duration::from_secs(10);
