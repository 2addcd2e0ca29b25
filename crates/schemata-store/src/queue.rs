//! The refresh queue on apalis-postgres, written to on the caller's transaction.

use crate::StoreError;
use apalis_core::task::{builder::TaskBuilder, task_id::TaskId};
use schemata_core::RefreshJob;
use sqlx::{Postgres, Transaction};
use std::time::Duration;
use ulid::Ulid;

/// The apalis queue that carries refresh jobs.
pub const QUEUE_NAME: &str = "schemata::refresh";

/// Attempts apalis may make for infrastructure failures (our database down).
/// Source failures are recorded on the run and never retried by the queue.
pub const MAX_ATTEMPTS: usize = 3;

/// Pushes a refresh job ahead of everything waiting: a run whose worker died
/// was already due, and must not wait behind a backlog that came after it.
pub async fn enqueue_first(
    tx: &mut Transaction<'_, Postgres>,
    job: &RefreshJob,
) -> Result<String, StoreError> {
    push(tx, job, Duration::ZERO, URGENT).await
}

/// apalis fetches by priority (highest first), then due time.
const URGENT: usize = 10;

/// Pushes a refresh job due after `delay`. Each push gets its own task id; the
/// run row names the one that counts, so an older delivery of the same run is
/// recognised as stale.
pub async fn enqueue_after(
    tx: &mut Transaction<'_, Postgres>,
    job: &RefreshJob,
    delay: Duration,
) -> Result<String, StoreError> {
    push(tx, job, delay, 0).await
}

/// A new job's id, chosen before the job is pushed so that the run naming it
/// can be written in the same statement as the run itself.
pub(crate) fn next_task_id() -> Ulid {
    Ulid::from(uuid::Uuid::now_v7())
}

/// Pushes a refresh job, due now, under the id `task_id`.
pub(crate) async fn enqueue_as(
    tx: &mut Transaction<'_, Postgres>,
    job: &RefreshJob,
    task_id: Ulid,
) -> Result<(), StoreError> {
    push_as(tx, job, task_id, Duration::ZERO, 0).await
}

async fn push(
    tx: &mut Transaction<'_, Postgres>,
    job: &RefreshJob,
    delay: Duration,
    priority: usize,
) -> Result<String, StoreError> {
    let task_id = next_task_id();
    push_as(tx, job, task_id, delay, priority).await?;
    Ok(task_id.to_string())
}

async fn push_as(
    tx: &mut Transaction<'_, Postgres>,
    job: &RefreshJob,
    task_id: Ulid,
    delay: Duration,
    priority: usize,
) -> Result<(), StoreError> {
    let payload = serde_json::to_vec(job).expect("a refresh job always serializes");
    let mut task = TaskBuilder::new(payload)
        .task_id(TaskId::from_ulid(task_id))
        .max_attempts(MAX_ATTEMPTS)
        .priority(priority);
    if !delay.is_zero() {
        task = task.run_after(delay);
    }
    apalis_postgres::queries::push_tasks(&mut **tx, QUEUE_NAME, vec![task.build()]).await?;
    Ok(())
}

/// Deletes finished refresh jobs: done ones after a day, killed or exhausted ones
/// after a week. apalis never prunes, and a long queue table slows every fetch.
/// The refresh history lives in `refresh_runs` and is not affected.
pub async fn prune(pool: &sqlx::PgPool) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM apalis.jobs
         WHERE job_type = $1
           AND ((status = 'Done' AND done_at < now() - interval '1 day')
                OR (status IN ('Killed', 'Failed') AND attempts >= max_attempts
                    AND coalesce(done_at, run_at) < now() - interval '7 days'))",
    )
    .bind(QUEUE_NAME)
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
