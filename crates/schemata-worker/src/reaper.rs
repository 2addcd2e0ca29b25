//! Crash recovery in seconds: every worker looks, every few seconds, for runs
//! whose worker died (see `schemata_store::runs::requeue_orphans`) and puts
//! them back on the queue at once, instead of after the queue's heartbeat
//! timeout (about a minute).

use schemata_store::{PgPool, runs};
use std::time::Duration;

/// Checks every `interval` (never when zero).
pub async fn run(pool: PgPool, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = runs::requeue_orphans(&pool).await {
            tracing::warn!(error = ?error, "looking for runs of lost workers failed; will retry");
        }
    }
}
