//! The answers to a refresh request.

use super::Status;
use schemata_core::RunStatus;
use schemata_store::runs::Admission;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `202 Accepted` to a refresh request; `Location` points at the status.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "job_id": "0192f7c4-6a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "connection_id": "0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
    "status": "queued",
    "coalesced": false,
    "widened": false,
    "follows_job_id": null
}))]
pub(crate) struct RefreshAccepted {
    job_id: Uuid,
    connection_id: Uuid,
    status: RunStatus,
    /// Joined a run already queued or running that covers this request.
    coalesced: bool,
    /// Joined a queued run and widened its scope to cover this request.
    widened: bool,
    /// The running refresh this one will start after.
    follows_job_id: Option<Uuid>,
}

impl RefreshAccepted {
    pub(crate) fn of(connection_id: Uuid, admission: Admission) -> Self {
        let (job_id, status, coalesced, widened, follows_job_id) = match admission {
            Admission::Queued { run_id, follows } => {
                (run_id, RunStatus::Queued, false, false, follows)
            }
            Admission::Joined { run_id, status } => (run_id, status, true, false, None),
            Admission::Widened { run_id, follows } => {
                (run_id, RunStatus::Queued, true, true, follows)
            }
        };
        Self {
            job_id,
            connection_id,
            status,
            coalesced,
            widened,
            follows_job_id,
        }
    }
}

/// `200` to a refresh request that needs no run: a disabled connection
/// (`skipped`), or with `max_age=` a cache young enough (the status document).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum RefreshNotNeeded {
    Skipped(Skipped),
    FreshEnough(Box<Status>),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Skipped {
    skipped: bool,
    message: &'static str,
}

impl Skipped {
    pub(crate) fn disabled() -> Self {
        Self {
            skipped: true,
            message: "Connection is disabled. Enable it before refreshing.",
        }
    }
}
