//! What clients poll after a 202: the cache's state and the run in progress.

use super::{
    run::{Progress, RefreshResult},
    time::{millis, millis_opt},
};
use chrono::{DateTime, Utc};
use schemata_core::{CacheStatus, RunStatus};
use schemata_store::status::{ActiveRun, StatusRow};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A run in progress (`current_job`) or queued behind it (`next_job`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveJob {
    job_id: Uuid,
    status: RunStatus,
    /// 1 for the first attempt; higher after a transient failure.
    attempt: i32,
    progress: Progress,
    #[serde(serialize_with = "millis")]
    queued_at: DateTime<Utc>,
    #[serde(serialize_with = "millis_opt")]
    started_at: Option<DateTime<Utc>>,
    /// When a retry after a transient failure is due.
    #[serde(serialize_with = "millis_opt")]
    next_attempt_at: Option<DateTime<Utc>>,
    /// The error of the previous attempt.
    last_error: Option<String>,
}

impl From<&ActiveRun> for ActiveJob {
    fn from(run: &ActiveRun) -> Self {
        Self {
            job_id: run.id,
            status: run.status,
            attempt: run.attempt,
            progress: Progress {
                objects_done: run.objects_done,
                objects_total: run.objects_total,
            },
            queued_at: run.queued_at,
            started_at: run.started_at,
            next_attempt_at: run.next_attempt_at,
            last_error: run.error.clone(),
        }
    }
}

/// What clients poll after a 202.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "cache_status": "fresh",
    "last_refresh_started": "2026-11-22T10:00:00.012Z",
    "last_refresh_finished": "2026-11-22T10:00:00.412Z",
    "last_refresh_error": null,
    "schema_version": "9f2c1d0e5a4b3c2d",
    "current_job": null,
    "next_job": null,
    "last_result": {
        "job_id": "0192f7c4-6a1b-7c2d-8e3f-4a5b6c7d8e9f",
        "ok": true,
        "message": "Refresh complete. 22 table(s) refreshed, 0 failed, 0 deleted.",
        "table_count": 22,
        "view_count": 7,
        "column_count": 171,
        "failed_table_count": 0,
        "deleted_count": 0,
        "duration_ms": 398,
        "schemas": [{ "schema_name": "public", "tables_count": 22, "views_count": 7 }],
        "failures": [],
        "objects_read": 29,
        "objects_written": 29,
        "changed": true
    },
    "next_refresh_at": "2026-11-22T10:15:00.398Z"
}))]
pub(crate) struct Status {
    cache_status: CacheStatus,
    #[serde(serialize_with = "millis_opt")]
    last_refresh_started: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    last_refresh_finished: Option<DateTime<Utc>>,
    last_refresh_error: Option<String>,
    /// Content hash of the cached schema and the overrides; also the `ETag`.
    schema_version: Option<String>,
    current_job: Option<ActiveJob>,
    next_job: Option<ActiveJob>,
    last_result: Option<RefreshResult>,
    /// When the scheduler refreshes next (a failing source's backoff
    /// included); null when auto-refresh is off, the connection disabled, or
    /// a refresh under way.
    #[serde(serialize_with = "millis_opt")]
    next_refresh_at: Option<DateTime<Utc>>,
}

impl Status {
    /// The status as a client sees it at `now`: a fresh cache past its TTL,
    /// or read under a configuration the connection no longer has, is stale.
    pub(crate) fn at(snapshot: &StatusRow, now: DateTime<Utc>) -> Self {
        let row = &snapshot.connection;
        let cache_status = row.cache_status_at(now);
        // Running first: the job in progress, then a follow-up queued behind it.
        let mut active = snapshot.active.0.iter();
        Self {
            cache_status,
            last_refresh_started: row.last_refresh_started,
            last_refresh_finished: row.last_refresh_finished,
            last_refresh_error: row.last_refresh_error.clone(),
            schema_version: row.schema_version.as_deref().map(|detected| {
                schemata_core::effective_version(detected, snapshot.overrides_digest.as_deref())
            }),
            current_job: active.next().map(ActiveJob::from),
            next_job: active.next().map(ActiveJob::from),
            last_result: snapshot.last_result.get().map(RefreshResult::from),
            next_refresh_at: row.next_refresh_at,
        }
    }
}
