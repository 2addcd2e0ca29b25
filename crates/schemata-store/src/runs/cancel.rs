//! A client's cancel of a queued or running run.

use super::{COLUMNS, RunRow, finish::wake};
use crate::StoreError;
use schemata_core::RunStatus;
use sqlx::PgPool;
use uuid::Uuid;

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
    let was: RunStatus = status.parse()?;
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
    let told = crate::webhook_deliveries::RunEnded {
        connection_id: ended.connection_id,
        run_id: ended.id,
        status: RunStatus::Cancelled,
        error: ended.error.as_deref(),
        change_set: None,
    };
    crate::webhook_deliveries::queue_for_run(&mut tx, &told).await?;
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
            let schedule: (Option<String>, String, i32) = sqlx::query_as(
                "UPDATE connections c SET updated_at = now(),
                     cache_status = CASE
                         WHEN c.last_run_id IS NULL THEN 'none'
                         WHEN (SELECT status FROM refresh_runs r WHERE r.id = c.last_run_id) = 'failed' THEN 'error'
                         ELSE 'fresh' END,
                     last_refresh_started = (SELECT r.queued_at FROM refresh_runs r WHERE r.id = c.last_run_id),
                     refresh_due_at = now() + make_interval(secs => c.refresh_ttl_seconds)
                 WHERE c.id = $1
                 RETURNING c.refresh_schedule, c.refresh_timezone, c.failed_scheduled_runs",
            )
            .bind(connection_id)
            .fetch_one(&mut *tx)
            .await?;
            // A schedule comes back at its next occurrence, not the one that was cancelled.
            if let (Some(expression), timezone, failures) = schedule {
                crate::schedule::set_schedule_due(
                    &mut tx,
                    connection_id,
                    &expression,
                    &timezone,
                    failures,
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Cancelled::Now { was })
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
