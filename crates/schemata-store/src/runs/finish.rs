//! A run's end: succeeded or partial with the cache it wrote, or failed with
//! the cache untouched; the connection's cache state moves in the same
//! transaction, and a run queued behind it is woken.

use super::{COLUMNS, RunRow};
use crate::webhook_deliveries::RunEnded;
use crate::{QUEUE_NAME, StoreError, connections};
use schemata_core::{ChangeSet, RefreshResult, RunStatus, Trigger};
use sqlx::{PgPool, Postgres, Transaction, types::Json};

/// How a run ends: its status, what it found, and what it changed.
#[derive(Debug, Clone, Copy)]
pub struct Closing<'a> {
    pub status: RunStatus,
    pub result: &'a RefreshResult,
    /// Why it failed (a failed run only).
    pub error: Option<&'a str>,
    /// What it changed in the cache (a run that wrote it only).
    pub changes: Option<&'a ChangeSet>,
    /// A failed run's source could not be read (unreachable, refused, timed
    /// out): the connection turns `unhealthy` with the error. Any other
    /// failure (ours) says nothing of the source.
    pub source_failed: bool,
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
    closing: Closing<'_>,
) -> Result<bool, StoreError> {
    let Closing {
        status,
        result,
        error,
        changes,
        source_failed,
    } = closing;
    connections::lock(tx, run.connection_id).await?;
    let closed = sqlx::query(
        "UPDATE refresh_runs SET status = $2, result = $3, error = $4, change_set = $5, finished_at = now(),
             objects_total = CASE WHEN $2 = 'failed' THEN objects_total ELSE coalesce(objects_total, objects_done) END,
             objects_done = CASE WHEN $2 = 'failed' THEN objects_done ELSE coalesce(objects_total, objects_done) END
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(run.id)
    .bind(status.as_str())
    .bind(Json(result))
    .bind(error)
    .bind(changes.map(Json))
    .execute(&mut **tx)
    .await?;
    if closed.rows_affected() == 0 {
        return Ok(false);
    }
    let ended = RunEnded {
        connection_id: run.connection_id,
        run_id: run.id,
        status,
        error,
        change_set: changes,
    };
    crate::webhook_deliveries::queue_for_run(tx, &ended).await?;
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
    // A success, or any refresh a client asked for, ends a failing streak; a
    // failed scheduled run extends it, and the next due time backs off.
    let failed = status == RunStatus::Failed;
    let (schedule, timezone, failures): (Option<String>, String, i32) = sqlx::query_as(
        "UPDATE connections SET
             cache_status = CASE WHEN $5 THEN 'refreshing' ELSE $2 END,
             last_refresh_error = $3,
             last_refresh_finished = CASE WHEN $5 THEN last_refresh_finished ELSE now() END,
             last_run_id = $4, updated_at = now(),
             stale_reason = CASE WHEN $6 THEN NULL ELSE stale_reason END,
             failed_scheduled_runs = CASE WHEN $7 AND $8 THEN failed_scheduled_runs + 1 ELSE 0 END,
             health_status = CASE WHEN NOT $7 THEN 'healthy' WHEN $9 THEN 'unhealthy' ELSE health_status END,
             health_message = CASE WHEN NOT $7 THEN NULL WHEN $9 THEN $3 ELSE health_message END,
             health_checked_at = CASE WHEN NOT $7 OR $9 THEN now() ELSE health_checked_at END
         WHERE id = $1
         RETURNING refresh_schedule, refresh_timezone, failed_scheduled_runs",
    )
    .bind(run.connection_id)
    .bind(cache_status)
    .bind(error)
    .bind(run.id)
    .bind(follow_up.is_some())
    .bind(reconciled)
    .bind(failed)
    .bind(run.trigger == Trigger::Schedule)
    .bind(failed && source_failed)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(expression) = schedule {
        crate::schedule::set_schedule_due(tx, run.connection_id, &expression, &timezone, failures)
            .await?;
    }
    if let Some(task_id) = follow_up {
        wake(tx, &task_id).await?;
    }
    Ok(true)
}

/// Closes a run as failed, the cache untouched, in a transaction of its own.
/// A source that failed makes the connection `unhealthy`; any other failure
/// forgets a healthy verdict, so that the next request checks the source
/// live again. False when the run had already
/// ended (cancelled, or finished by another delivery).
pub async fn fail(
    pool: &PgPool,
    run: &RunRow,
    result: &RefreshResult,
    error: &str,
    source_failed: bool,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let closing = Closing {
        status: RunStatus::Failed,
        result,
        error: Some(error),
        changes: None,
        source_failed,
    };
    if !finish(&mut tx, run, closing).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    if !source_failed {
        connections::forget_health(&mut tx, run.connection_id).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Makes a pending job due now and tells idle workers, as apalis's insert trigger would.
pub(super) async fn wake(
    tx: &mut Transaction<'_, Postgres>,
    task_id: &str,
) -> Result<(), StoreError> {
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
