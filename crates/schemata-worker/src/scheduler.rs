//! The auto-refresh scheduler every worker runs: each pass queues refreshes
//! for the connections that went stale. Workers share the work through row
//! locks (see `schemata_store::schedule`), never doubling a run.

use schemata_store::{PgPool, schedule};
use std::time::Duration;

/// Looks for due connections every `interval` (never when zero), queueing at
/// most `batch` runs per transaction and going on at once while batches come
/// back full.
pub async fn run(pool: PgPool, interval: Duration, batch: i64) {
    if interval.is_zero() {
        return;
    }
    let batch = batch.max(1);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        loop {
            match schedule::enqueue_due(&pool, batch).await {
                Ok(queued) => {
                    if queued > 0 {
                        tracing::info!(runs.queued = queued, "auto-refresh scheduled");
                    }
                    if (queued as i64) < batch {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = ?error, "auto-refresh scheduling failed; will retry");
                    break;
                }
            }
        }
    }
}
