//! A refresh run's whole life, in one module: every change of
//! `refresh_runs.status` is made here, by the file of its transition.
//!
//! ```text
//!             admit (join | widen | queue)
//!   request ─────────────▶ queued ◀──────────────┐ hand back (SIGTERM, attempt given back)
//!   defer ⟲ (busy, no slot:  │                    │ retry later (transient source failure, delay)
//!   a new delivery, still    │ claim (locks,      │ superseded (PATCH mid-read, attempt given back)
//!   queued)                  │  slots, attempt+1) │
//!                            ▼                    │
//!   re-deliver ⟲ ────────  running ───────────────┘
//!   (worker lost: a new      │ │ │
//!   delivery, still running) │ │ │
//!            ┌───────────────┘ │ └──────────────┐
//!            ▼                 ▼                ▼
//!   succeeded | partial      failed         cancelled
//!      (finish)        (finish, fail;     (cancel, from queued
//!                      lost, from queued   or running)
//!                      or running)
//! ```
//!
//! - [`admit`]: how a request becomes a run (or joins one), on the caller's
//!   transaction with the job it enqueues.
//! - [`claim`]: how a worker takes a delivery, holds the run's locks for as
//!   long as it runs, and hands it back.
//! - [`requeue`]: a new delivery of the same run, without ending it: deferred,
//!   retried later, re-delivered after its worker died.
//! - [`finish`]: the run's end, in the transaction that wrote the cache.
//! - [`cancel`]: a client's cancel.

mod admit;
mod cancel;
mod claim;
mod finish;
mod requeue;

pub use admit::{Admission, AdmitOutcome, Plan, admit, plan};
pub use cancel::{Cancelled, cancel, wake_queued};
pub use claim::{Claim, ClaimPool, ClaimSession, HandBack, MAX_HAND_BACKS, Slots};
pub use finish::{Closing, fail, finish, lost};
pub use requeue::{defer, orphaned, requeue_orphans, retry_later};

use crate::{StoreError, StoredJson};
use chrono::{DateTime, Utc};
use schemata_core::{ChangeSet, RefreshOptions, RefreshResult, RunStatus, SchemaId, Trigger};
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) const COLUMNS: &str = "id, connection_id, status, hard_refresh, only_schemas, only_tables, task_id, attempt,
    max_attempts, objects_done, objects_total, result, error, change_set, queued_at, started_at, finished_at, lock_key,
    trigger, next_attempt_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub connection_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub hard_refresh: bool,
    pub only_schemas: Vec<String>,
    pub only_tables: Vec<String>,
    pub task_id: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub objects_done: Option<i32>,
    pub objects_total: Option<i32>,
    pub result: StoredJson<RefreshResult>,
    pub error: Option<String>,
    pub change_set: StoredJson<ChangeSet>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Key of the advisory lock a worker holds while the run is running.
    pub lock_key: i64,
    #[sqlx(try_from = "String")]
    pub trigger: Trigger,
    /// When a run waiting after a transient failure is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl RunRow {
    pub fn options(&self) -> Result<RefreshOptions, StoreError> {
        let tables = self
            .only_tables
            .iter()
            .map(|t| SchemaId::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::Corrupt)?;
        Ok(RefreshOptions {
            hard_refresh: self.hard_refresh,
            schemas: self.only_schemas.clone(),
            tables,
        })
    }
}

/// The queued and running runs of a connection, running first.
pub async fn active(pool: &PgPool, connection_id: Uuid) -> Result<Vec<RunRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs WHERE connection_id = $1 AND status IN ('queued', 'running')
         ORDER BY status DESC, queued_at"
    )))
    .bind(connection_id)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn get(pool: &PgPool, run_id: Uuid) -> Result<Option<RunRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs WHERE id = $1"
    )))
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// How far a running refresh got; `total` when known.
pub async fn set_progress(
    pool: &PgPool,
    run_id: Uuid,
    done: i32,
    total: Option<i32>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_runs SET objects_done = $2, objects_total = coalesce($3, objects_total)
         WHERE id = $1 AND status = 'running'",
    )
    .bind(run_id)
    .bind(done)
    .bind(total)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether a run is still running: what a worker checks between reads.
pub async fn is_running(pool: &PgPool, run_id: Uuid) -> Result<bool, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM refresh_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
    Ok(status.map(|s| s.parse::<RunStatus>()).transpose()? == Some(RunStatus::Running))
}
