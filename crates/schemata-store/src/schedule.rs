//! Auto-refresh: connections whose cache went stale get a refresh run through
//! the same admission path as a client's request, so a scheduled and a manual
//! refresh never run side by side.

use crate::{
    StoreError,
    runs::{self, AdmitOutcome},
};
use chrono::{DateTime, Utc};
use schemata_core::{RefreshOptions, RefreshSchedule, Trigger};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The search for due connections: a range scan of the partial index
/// `connections_refresh_due_idx` (its predicate is repeated here word for word
/// so the planner uses it). Rows another scheduler holds are skipped, so
/// several workers never schedule one connection twice.
const DUE: &str = "SELECT id, organization_id FROM connections
     WHERE auto_refresh AND status = 'active' AND refresh_due_at IS NOT NULL
       AND cache_status <> 'refreshing'
       AND refresh_due_at <= now()
     ORDER BY refresh_due_at
     LIMIT $1
     FOR NO KEY UPDATE SKIP LOCKED";

/// Queues a refresh for up to `batch` due connections, in one transaction.
/// Returns how many runs were queued (or joined).
pub async fn enqueue_due(pool: &PgPool, batch: i64) -> Result<usize, StoreError> {
    let batch = batch.max(1);
    let mut tx = pool.begin().await?;
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(DUE).bind(batch).fetch_all(&mut *tx).await?;
    let mut queued = 0;
    for (connection_id, organization_id) in &due {
        let outcome = runs::admit(
            &mut tx,
            *organization_id,
            *connection_id,
            &RefreshOptions::default(),
            None,
            Trigger::Schedule,
            // The run itself records an unreachable source as a failed refresh;
            // no health check holds the scheduler up.
            true,
        )
        .await?;
        if matches!(outcome, AdmitOutcome::Admitted(_)) {
            queued += 1;
        }
    }
    tx.commit().await?;
    Ok(queued)
}

/// The plan of the search for due connections, with its timing: what the
/// scheduler benchmark prints.
pub async fn explain_due(pool: &PgPool, batch: i64) -> Result<String, StoreError> {
    let mut tx = pool.begin().await?;
    let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {DUE}"
    )))
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    tx.rollback().await?;
    Ok(lines.join("\n"))
}

/// When a connection on `expression` in `timezone` is due next, `failures`
/// scheduled refreshes in a row having failed; `None` without a schedule (or
/// with one that no longer parses: the API refuses those).
pub fn schedule_due_at(
    expression: Option<&str>,
    timezone: &str,
    failures: i32,
) -> Option<DateTime<Utc>> {
    let schedule = RefreshSchedule::parse(expression?, timezone).ok()?;
    schedule.next_due(Utc::now(), failures)
}

/// Moves a scheduled connection's next due time to its schedule's next
/// occurrence after now (with its backoff); the trigger
/// `connections_refresh_due_at` carries it into `refresh_due_at`.
pub(crate) async fn set_schedule_due(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    expression: &str,
    timezone: &str,
    failures: i32,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE connections SET schedule_due_at = $2 WHERE id = $1")
        .bind(connection_id)
        .bind(schedule_due_at(Some(expression), timezone, failures))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
