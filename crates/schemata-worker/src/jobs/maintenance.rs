//! Periodic upkeep every worker does: fail runs whose job the queue lost, prune
//! finished jobs. Safe to run from many workers at once.

use crate::jobs::{context::RefreshContext, outcome::RefreshOutcome, refresh::fail};
use schemata_store::{history, idempotency, queue, rate_limits, runs, webhook_deliveries};
use std::time::{Duration, Instant};

/// How long a run may lack a live job before it is declared lost.
pub const LOST_RUN_GRACE: Duration = Duration::from_secs(30);

/// Closes lost runs as failed (the previous cache stays) and prunes old jobs.
/// Returns how many runs were closed.
pub async fn sweep(ctx: &RefreshContext, retention_days: u32) -> anyhow::Result<usize> {
    let lost = runs::lost(&ctx.pool, LOST_RUN_GRACE).await?;
    let mut closed = 0;
    for run in &lost {
        let message = "The refresh job was lost by the queue (its worker failed repeatedly); ask for a new refresh.";
        if fail(ctx, run, message.to_owned(), Instant::now(), false).await?
            != RefreshOutcome::Skipped
        {
            closed += 1;
        }
    }
    let pruned = queue::prune(&ctx.pool).await?;
    let history_pruned = history::prune(&ctx.pool, retention_days).await?;
    let keys_pruned = idempotency::prune(&ctx.pool).await?;
    let deliveries_pruned = webhook_deliveries::prune(&ctx.pool, retention_days).await?;
    rate_limits::prune(&ctx.pool).await?;
    if closed > 0 || pruned > 0 || history_pruned > 0 || keys_pruned > 0 || deliveries_pruned > 0 {
        tracing::info!(
            runs.closed = closed,
            jobs.pruned = pruned,
            runs.pruned = history_pruned,
            idempotency_keys.pruned = keys_pruned,
            webhook_deliveries.pruned = deliveries_pruned,
            "queue maintenance"
        );
    }
    Ok(closed)
}
