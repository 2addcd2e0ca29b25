//! How a refresh request becomes work: it joins an active run that covers it,
//! widens the queued run, or queues a new run (behind the running one, if that
//! one does not cover it). Decided under a lock on the connection row, so
//! concurrent requests, a concurrent DELETE and the workers see one order.

use super::{COLUMNS, RunRow};
use crate::{StoreError, queue};
use schemata_core::{RefreshJob, RefreshOptions, RunStatus, Trigger};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new run was queued; `follows` is the running run it waits for.
    Queued { run_id: Uuid, follows: Option<Uuid> },
    /// An active run already does everything the request asks.
    Joined { run_id: Uuid, status: RunStatus },
    /// The queued run, not started yet, was widened to cover the request;
    /// `follows` is the running run it waits for.
    Widened { run_id: Uuid, follows: Option<Uuid> },
}

/// What `admit` needs from its caller before it can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitOutcome {
    Admitted(Admission),
    /// Only a new run would do, and new runs need a healthy source first.
    NeedsHealthCheck,
    /// The connection was deleted (or never belonged to this organization).
    ConnectionGone,
}

/// What a request should do, given the active runs of its connection.
#[derive(Debug)]
pub enum Plan<'a> {
    Join(&'a RunRow),
    Widen(&'a RunRow, RefreshOptions),
    Queue { follows: Option<Uuid> },
}

/// Decides from the active runs (running first) alone.
pub fn plan<'a>(active: &'a [RunRow], requested: &RefreshOptions) -> Result<Plan<'a>, StoreError> {
    for run in active {
        if run.options()?.covers(requested) {
            return Ok(Plan::Join(run));
        }
    }
    if let Some(queued) = active.iter().find(|r| r.status == RunStatus::Queued) {
        let merged = queued.options()?.merged_with(requested);
        return Ok(Plan::Widen(queued, merged));
    }
    Ok(Plan::Queue {
        follows: active
            .iter()
            .find(|r| r.status == RunStatus::Running)
            .map(|r| r.id),
    })
}

/// Answers a refresh request in `tx`. With `source_is_healthy` false, a request
/// that needs a new run comes back as [`AdmitOutcome::NeedsHealthCheck`].
pub async fn admit(
    tx: &mut Transaction<'_, Postgres>,
    organization_id: Uuid,
    connection_id: Uuid,
    requested: &RefreshOptions,
    requested_by: Option<Uuid>,
    trigger: Trigger,
    source_is_healthy: bool,
) -> Result<AdmitOutcome, StoreError> {
    let owned: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM connections WHERE id = $1 AND organization_id = $2 FOR NO KEY UPDATE",
    )
    .bind(connection_id)
    .bind(organization_id)
    .fetch_optional(&mut **tx)
    .await?;
    if owned.is_none() {
        return Ok(AdmitOutcome::ConnectionGone);
    }
    let active: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs WHERE connection_id = $1 AND status IN ('queued', 'running')
         ORDER BY status DESC, queued_at FOR UPDATE"
    )))
    .bind(connection_id)
    .fetch_all(&mut **tx)
    .await?;
    let admission = match plan(&active, requested)? {
        Plan::Join(run) => Admission::Joined {
            run_id: run.id,
            status: run.status,
        },
        Plan::Widen(run, merged) => {
            set_options(tx, run.id, &merged).await?;
            Admission::Widened {
                run_id: run.id,
                follows: active
                    .iter()
                    .find(|r| r.status == RunStatus::Running)
                    .map(|r| r.id),
            }
        }
        Plan::Queue { .. } if !source_is_healthy => return Ok(AdmitOutcome::NeedsHealthCheck),
        Plan::Queue { follows } => {
            let run_id = Uuid::now_v7();
            let task_id = queue::next_task_id();
            insert_and_mark(
                tx,
                NewRun {
                    run_id,
                    task_id: &task_id.to_string(),
                    organization_id,
                    connection_id,
                    options: requested,
                    requested_by,
                    trigger,
                },
            )
            .await?;
            let job = RefreshJob {
                run_id,
                connection_id,
            };
            queue::enqueue_as(tx, &job, task_id).await?;
            tracing::info!(connection.id = %connection_id, job.id = %run_id, "refresh enqueued");
            Admission::Queued { run_id, follows }
        }
    };
    Ok(AdmitOutcome::Admitted(admission))
}

/// A run about to be queued, with the id of the job that will carry it.
struct NewRun<'a> {
    run_id: Uuid,
    task_id: &'a str,
    organization_id: Uuid,
    connection_id: Uuid,
    options: &'a RefreshOptions,
    requested_by: Option<Uuid>,
    trigger: Trigger,
}

/// Records the run and marks the cache `refreshing`, in one round trip.
async fn insert_and_mark(
    tx: &mut Transaction<'_, Postgres>,
    run: NewRun<'_>,
) -> Result<(), StoreError> {
    let tables: Vec<String> = run.options.tables.iter().map(ToString::to_string).collect();
    sqlx::query(
        "WITH run AS (
             INSERT INTO refresh_runs (id, connection_id, organization_id, hard_refresh, only_schemas,
                                       only_tables, requested_by, trigger, task_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         )
         UPDATE connections SET cache_status = 'refreshing', last_refresh_started = now(), updated_at = now()
         WHERE id = $2",
    )
    .bind(run.run_id)
    .bind(run.connection_id)
    .bind(run.organization_id)
    .bind(run.options.hard_refresh)
    .bind(&run.options.schemas)
    .bind(&tables)
    .bind(run.requested_by)
    .bind(run.trigger.as_str())
    .bind(run.task_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn set_options(
    tx: &mut Transaction<'_, Postgres>,
    run_id: Uuid,
    options: &RefreshOptions,
) -> Result<(), StoreError> {
    let tables: Vec<String> = options.tables.iter().map(ToString::to_string).collect();
    sqlx::query(
        "UPDATE refresh_runs SET hard_refresh = $2, only_schemas = $3, only_tables = $4 WHERE id = $1",
    )
    .bind(run_id)
    .bind(options.hard_refresh)
    .bind(&options.schemas)
    .bind(&tables)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn set_task_id(
    tx: &mut Transaction<'_, Postgres>,
    run_id: Uuid,
    task_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_runs SET task_id = $2 WHERE id = $1")
        .bind(run_id)
        .bind(task_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
