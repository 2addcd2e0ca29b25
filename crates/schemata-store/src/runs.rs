//! Refresh runs: one row per job, the history clients read. How requests become
//! runs is in `admission`, how workers take them in `claims`.

use crate::{QUEUE_NAME, StoreError};
use chrono::{DateTime, Utc};
use schemata_core::{RefreshOptions, RunStatus, SchemaId};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub(crate) const COLUMNS: &str = "id, connection_id, status, hard_refresh, only_schemas, only_tables, task_id, attempt,
    max_attempts, objects_done, objects_total, result, error, change_set, queued_at, started_at, finished_at, lock_key,
    trigger, next_attempt_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub connection_id: Uuid,
    pub status: String,
    pub hard_refresh: bool,
    pub only_schemas: Vec<String>,
    pub only_tables: Vec<String>,
    pub task_id: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub objects_done: Option<i32>,
    pub objects_total: Option<i32>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub change_set: Option<Value>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Key of the advisory lock a worker holds while the run is running.
    pub lock_key: i64,
    /// `api` or `schedule`.
    pub trigger: String,
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

    pub fn run_status(&self) -> Result<RunStatus, StoreError> {
        self.status.parse().map_err(StoreError::Corrupt)
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

/// Closes an active run and moves its connection's cache state, in the caller's
/// transaction (the one that wrote the snapshot, when there is one). False when the
/// run was no longer active (cancelled, or finished by another delivery): the
/// caller must then roll back.
///
/// Locks the connection row first, as every writer of runs does, so the API,
/// the workers and the sweep cannot deadlock. A follow-up run queued behind this
/// one keeps the cache `refreshing` and is woken at once.
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    run: &RunRow,
    status: RunStatus,
    result: &Value,
    error: Option<&str>,
    change_set: Option<&Value>,
) -> Result<bool, StoreError> {
    crate::connections::lock(tx, run.connection_id).await?;
    let closed = sqlx::query(
        "UPDATE refresh_runs SET status = $2, result = $3, error = $4, change_set = $5, finished_at = now(),
             objects_total = CASE WHEN $2 = 'failed' THEN objects_total ELSE coalesce(objects_total, objects_done) END,
             objects_done = CASE WHEN $2 = 'failed' THEN objects_done ELSE coalesce(objects_total, objects_done) END
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(run.id)
    .bind(status.as_str())
    .bind(result)
    .bind(error)
    .bind(change_set)
    .execute(&mut **tx)
    .await?;
    if closed.rows_affected() == 0 {
        return Ok(false);
    }
    crate::webhook_deliveries::queue_for_run(tx, run, status, error, change_set).await?;
    let follow_up: Option<String> = sqlx::query_scalar(
        "SELECT task_id FROM refresh_runs WHERE connection_id = $1 AND status = 'queued'",
    )
    .bind(run.connection_id)
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    let cache_status = if status == RunStatus::Failed {
        "error"
    } else {
        "fresh"
    };
    // With a follow-up queued the cache is still refreshing, and
    // `last_refresh_finished` must not pass the follow-up's `last_refresh_started`.
    // A hard refresh of the whole scope that wrote its read makes the cache
    // answer to the connection as it is now (see `Writer::finish`'s check).
    let reconciled = status != RunStatus::Failed
        && run.hard_refresh
        && run.only_schemas.is_empty()
        && run.only_tables.is_empty();
    sqlx::query(
        "UPDATE connections SET
             cache_status = CASE WHEN $5 THEN 'refreshing' ELSE $2 END,
             last_refresh_error = $3,
             last_refresh_finished = CASE WHEN $5 THEN last_refresh_finished ELSE now() END,
             last_run_id = $4, updated_at = now(),
             stale_reason = CASE WHEN $6 THEN NULL ELSE stale_reason END
         WHERE id = $1",
    )
    .bind(run.connection_id)
    .bind(cache_status)
    .bind(error)
    .bind(run.id)
    .bind(follow_up.is_some())
    .bind(reconciled)
    .execute(&mut **tx)
    .await?;
    if let Some(task_id) = follow_up {
        wake(tx, &task_id).await?;
    }
    Ok(true)
}

/// Makes a pending job due now and tells idle workers, as apalis's insert trigger would.
async fn wake(tx: &mut Transaction<'_, Postgres>, task_id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "WITH due AS (
             UPDATE apalis.jobs SET run_at = now() WHERE id = $1 AND status = 'Pending' RETURNING id
         )
         SELECT pg_notify('apalis::job::insert',
                          json_build_object('job_type', $2::text, 'id', id, 'run_at', now())::text)
         FROM due",
    )
    .bind(task_id)
    .bind(QUEUE_NAME)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Active runs whose job the queue no longer holds alive (done, killed, out of
/// attempts, or gone) for longer than `grace`. Left alone they would keep their
/// connection `refreshing` and swallow every later request by coalescing.
pub async fn lost(pool: &PgPool, grace: std::time::Duration) -> Result<Vec<RunRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs r
         WHERE r.status IN ('queued', 'running')
           AND r.queued_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (
               SELECT 1 FROM apalis.jobs j
               WHERE j.id = r.task_id
                 AND (j.status IN ('Pending', 'Queued', 'Running')
                      OR (j.status = 'Failed' AND j.attempts < j.max_attempts)))"
    )))
    .bind(grace.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// How a request to cancel a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled now; `was` is the status it had (`queued` or `running`).
    Now {
        was: RunStatus,
    },
    /// It had already ended with this status.
    AlreadyEnded(RunStatus),
    NotFound,
}

/// Cancels a queued or running run of `connection_id`. The cache keeps the
/// state it had before the run (a running run's worker notices at its next
/// checkpoint and writes nothing); a run queued behind it is woken.
pub async fn cancel(
    pool: &PgPool,
    connection_id: Uuid,
    run_id: Uuid,
) -> Result<Cancelled, StoreError> {
    let mut tx = pool.begin().await?;
    crate::connections::lock(&mut tx, connection_id).await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM refresh_runs WHERE id = $1 AND connection_id = $2")
            .bind(run_id)
            .bind(connection_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(status) = status else {
        return Ok(Cancelled::NotFound);
    };
    let was: RunStatus = status.parse().map_err(StoreError::Corrupt)?;
    if !was.is_active() {
        return Ok(Cancelled::AlreadyEnded(was));
    }
    let ended: RunRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE refresh_runs SET status = 'cancelled', finished_at = now(), error = 'Cancelled by request.'
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    crate::webhook_deliveries::queue_for_run(
        &mut tx,
        &ended,
        RunStatus::Cancelled,
        ended.error.as_deref(),
        None,
    )
    .await?;
    let follow_up: Option<Option<String>> = sqlx::query_scalar(
        "SELECT task_id FROM refresh_runs WHERE connection_id = $1 AND status IN ('queued', 'running')
         ORDER BY status DESC LIMIT 1",
    )
    .bind(connection_id)
    .fetch_optional(&mut *tx)
    .await?;
    match follow_up {
        Some(task_id) => {
            if let Some(task_id) = task_id {
                wake(&mut tx, &task_id).await?;
            }
        }
        None => {
            // Back to what the last finished run left (its status, and its
            // start, so that `last_refresh_finished` is past it again), and
            // not due for an automatic refresh before one more TTL: a
            // cancelled scheduled run must not come straight back.
            sqlx::query(
                "UPDATE connections c SET updated_at = now(),
                     cache_status = CASE
                         WHEN c.last_run_id IS NULL THEN 'none'
                         WHEN (SELECT status FROM refresh_runs r WHERE r.id = c.last_run_id) = 'failed' THEN 'error'
                         ELSE 'fresh' END,
                     last_refresh_started = (SELECT r.queued_at FROM refresh_runs r WHERE r.id = c.last_run_id),
                     refresh_due_at = now() + make_interval(secs => c.refresh_ttl_seconds)
                 WHERE c.id = $1",
            )
            .bind(connection_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Cancelled::Now { was })
}

/// Whether a run is still running: what a worker checks between reads.
pub async fn is_running(pool: &PgPool, run_id: Uuid) -> Result<bool, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM refresh_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
    Ok(status.as_deref() == Some("running"))
}

/// Makes the connection's queued run due now: what a worker does when it gives
/// up a run (cancelled), so the run waiting behind it need not wait out its
/// busy retry.
pub async fn wake_queued(pool: &PgPool, connection_id: Uuid) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let task_id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT task_id FROM refresh_runs WHERE connection_id = $1 AND status = 'queued'",
    )
    .bind(connection_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(Some(task_id)) = task_id {
        wake(&mut tx, &task_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Puts a running run whose source failed transiently back on the queue, due
/// after `delay` (the wait is on the queue, not in a worker slot), keeping
/// `error` as its last error; `counts_attempt` false gives the attempt back
/// (a read superseded by a change of the connection was not the source's
/// failure). False when that is not possible (it is no longer this
/// delivery's, or another run is already queued behind it, which will do the
/// refresh): the caller then closes it as failed.
pub async fn retry_later(
    pool: &PgPool,
    run: &RunRow,
    delay: std::time::Duration,
    error: &str,
    counts_attempt: bool,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    crate::connections::lock(&mut tx, run.connection_id).await?;
    let queued_behind: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM refresh_runs WHERE connection_id = $1 AND status = 'queued')",
    )
    .bind(run.connection_id)
    .fetch_one(&mut *tx)
    .await?;
    if queued_behind {
        return Ok(false);
    }
    let job = schemata_core::RefreshJob {
        run_id: run.id,
        connection_id: run.connection_id,
    };
    let task_id = crate::queue::enqueue_after(&mut tx, &job, delay).await?;
    let updated = sqlx::query(
        "UPDATE refresh_runs SET status = 'queued', task_id = $3, error = $4,
             next_attempt_at = now() + make_interval(secs => $5),
             attempt = CASE WHEN $6 THEN attempt ELSE greatest(attempt - 1, 0) END
         WHERE id = $1 AND status = 'running' AND task_id IS NOT DISTINCT FROM $2",
    )
    .bind(run.id)
    .bind(&run.task_id)
    .bind(&task_id)
    .bind(error)
    .bind(delay.as_secs_f64())
    .bind(counts_attempt)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}
