//! A new delivery of a run that goes on, the run itself not ended: deferred
//! (its connection busy, no slot free), retried later (a transient source
//! failure), or re-delivered at once (its worker died).

use super::{RunRow, admit};
use crate::{StoreError, connections, queue};
use schemata_core::RefreshJob;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

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
    delay: Duration,
    error: &str,
    counts_attempt: bool,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    connections::lock(&mut tx, run.connection_id).await?;
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
    let task_id = queue::enqueue_after(&mut tx, &job, delay).await?;
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

/// Puts a delivery that found its connection busy back on the queue, due after
/// `delay` (a finishing run wakes it sooner). No attempt is counted.
pub async fn defer(
    pool: &PgPool,
    job: &RefreshJob,
    task_id: &str,
    delay: Duration,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    if !connections::lock(&mut tx, job.connection_id).await? {
        return Ok(false);
    }
    let still_current: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM refresh_runs WHERE id = $1 AND task_id = $2 AND status IN ('queued', 'running') FOR UPDATE",
    )
    .bind(job.run_id)
    .bind(task_id)
    .fetch_optional(&mut *tx)
    .await?;
    if still_current.is_none() {
        return Ok(false);
    }
    let next = queue::enqueue_after(&mut tx, job, delay).await?;
    admit::set_task_id(&mut tx, job.run_id, &next).await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs marked `running` whose claim lock nobody holds: their worker is gone.
/// `(run, connection, delivery)` each.
pub async fn orphaned(pool: &PgPool) -> Result<Vec<(Uuid, Uuid, Option<String>)>, StoreError> {
    let running: Vec<(Uuid, Uuid, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, connection_id, lock_key, task_id FROM refresh_runs WHERE status = 'running'",
    )
    .fetch_all(pool)
    .await?;
    let mut orphans = Vec::new();
    if running.is_empty() {
        return Ok(orphans);
    }
    // One session for lock and unlock: a pooled session must not keep a lock.
    let mut conn = pool.acquire().await?;
    for (run_id, connection_id, lock_key, task_id) in running {
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key)
            .fetch_one(&mut *conn)
            .await?;
        if free {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(lock_key)
                .execute(&mut *conn)
                .await?;
            orphans.push((run_id, connection_id, task_id));
        }
    }
    Ok(orphans)
}

/// Runs marked `running` whose worker is gone: their run lock is free, which
/// PostgreSQL guarantees the moment the worker's claim session ends (a crash,
/// SIGKILL, a lost network). Each gets a new delivery at once, on the same run
/// (the claim counts the attempt, and a run past its attempts is failed there),
/// instead of waiting for the queue's heartbeat timeout. The old delivery,
/// when the queue re-enqueues it, no longer names the run and is skipped.
pub async fn requeue_orphans(pool: &PgPool) -> Result<Vec<Uuid>, StoreError> {
    let orphans = orphaned(pool).await?;
    let mut requeued = Vec::new();
    for (run_id, connection_id, task_id) in orphans {
        let mut tx = pool.begin().await?;
        if !connections::lock(&mut tx, connection_id).await? {
            continue;
        }
        // Still the same running delivery: nobody claimed it meanwhile.
        let still: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM refresh_runs
             WHERE id = $1 AND status = 'running' AND task_id IS NOT DISTINCT FROM $2 FOR UPDATE",
        )
        .bind(run_id)
        .bind(&task_id)
        .fetch_optional(&mut *tx)
        .await?;
        if still.is_none() {
            continue;
        }
        let job = RefreshJob {
            run_id,
            connection_id,
        };
        let next = queue::enqueue_first(&mut tx, &job).await?;
        admit::set_task_id(&mut tx, run_id, &next).await?;
        tx.commit().await?;
        tracing::warn!(job.id = %run_id, connection.id = %connection_id, "worker lost mid-refresh; run re-queued");
        requeued.push(run_id);
    }
    Ok(requeued)
}
