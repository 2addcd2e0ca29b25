//! Periodic upkeep every worker does: fail runs whose job the queue lost, prune
//! finished jobs. Safe to run from many workers at once.

use crate::jobs::refresh::{RefreshContext, record_failure};
use schemata_store::{queue, runs};
use std::time::{Duration, Instant};

/// How long a run may lack a live job before it is declared lost.
pub const LOST_RUN_GRACE: Duration = Duration::from_secs(30);

/// Closes lost runs as failed (the previous cache stays) and prunes old jobs.
/// Returns how many runs were closed.
pub async fn sweep(ctx: &RefreshContext) -> anyhow::Result<usize> {
    let lost = runs::lost(&ctx.pool, LOST_RUN_GRACE).await?;
    let mut closed = 0;
    for run in &lost {
        let message = "The refresh job was lost by the queue (its worker failed repeatedly); ask for a new refresh.";
        if record_failure(ctx, run, message.to_owned(), Instant::now()).await?
            != crate::RefreshOutcome::Skipped
        {
            closed += 1;
        }
    }
    let pruned = queue::prune(&ctx.pool).await?;
    if closed > 0 || pruned > 0 {
        tracing::info!(
            runs.closed = closed,
            jobs.pruned = pruned,
            "queue maintenance"
        );
    }
    Ok(closed)
}
