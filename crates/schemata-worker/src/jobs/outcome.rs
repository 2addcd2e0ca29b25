//! How one delivery of a refresh job ended.

use schemata_core::RunStatus;
use std::time::Duration;

/// How a job ended. Source failures are outcomes, not errors: they are recorded
/// on the run and never retried by the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed(RunStatus),
    Failed(String),
    /// The connection was being refreshed by another worker: put back on the queue.
    Deferred,
    /// The run was already finished, cancelled or deleted, or this delivery is
    /// not the run's current job: nothing to do.
    Skipped,
    /// Cancelled while running: stopped, nothing written.
    Cancelled,
    /// The source failed transiently (or the connection changed mid-read);
    /// the run waits on the queue for its next attempt, after this long.
    RetryScheduled(Duration),
    /// This worker is stopping and its grace period ran out: the run is back
    /// at the front of the queue, its attempt not counted.
    HandedBack,
}

impl RefreshOutcome {
    /// The label of the job metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Refreshed(status) => status.as_str(),
            Self::Failed(_) => "failed",
            Self::Deferred => "deferred",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::RetryScheduled(_) => "retry_scheduled",
            Self::HandedBack => "handed_back",
        }
    }
}
