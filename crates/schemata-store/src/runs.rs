//! Refresh runs: one row per job, the history clients read and the coalescing guard.

use crate::StoreError;
use chrono::{DateTime, Utc};
use schemata_core::{RefreshOptions, RunStatus, SchemaId};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

const COLUMNS: &str = "id, connection_id, status, hard_refresh, only_schemas, only_tables, task_id, attempt,
    max_attempts, objects_done, objects_total, result, error, change_set, queued_at, started_at, finished_at";

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

/// What asking for a refresh produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub run_id: Uuid,
    /// True when a refresh was already queued or running and this request joined it.
    pub coalesced: bool,
}

/// Records a new queued run in `tx`, or returns the one already in flight.
/// `None` when the run it collided with finished in between: ask again.
///
/// The partial unique index on active runs decides: concurrent callers block on
/// each other's insert and all but one see the conflict.
pub async fn start(
    tx: &mut Transaction<'_, Postgres>,
    organization_id: Uuid,
    connection_id: Uuid,
    options: &RefreshOptions,
    requested_by: Option<Uuid>,
) -> Result<Option<Started>, StoreError> {
    let tables: Vec<String> = options.tables.iter().map(ToString::to_string).collect();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO refresh_runs (id, connection_id, organization_id, hard_refresh, only_schemas, only_tables, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (connection_id) WHERE status IN ('queued', 'running') DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(connection_id)
    .bind(organization_id)
    .bind(options.hard_refresh)
    .bind(&options.schemas)
    .bind(&tables)
    .bind(requested_by)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(run_id) = inserted {
        return Ok(Some(Started {
            run_id,
            coalesced: false,
        }));
    }
    let active: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM refresh_runs WHERE connection_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(connection_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(active.map(|run_id| Started {
        run_id,
        coalesced: true,
    }))
}

pub async fn set_task_id(
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

/// The queued or running run of a connection, if any.
pub async fn active(pool: &PgPool, connection_id: Uuid) -> Result<Option<RunRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs WHERE connection_id = $1 AND status IN ('queued', 'running')"
    )))
    .bind(connection_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
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

/// Marks a run running and counts the attempt. `None` when the run is already
/// finished or cancelled: a job delivered twice then does nothing.
pub async fn claim(pool: &PgPool, run_id: Uuid) -> Result<Option<RunRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE refresh_runs SET status = 'running', attempt = attempt + 1, started_at = coalesce(started_at, now())
         WHERE id = $1 AND status IN ('queued', 'running')
         RETURNING {COLUMNS}"
    )))
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

pub async fn set_progress(
    pool: &PgPool,
    run_id: Uuid,
    done: i32,
    total: i32,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_runs SET objects_done = $2, objects_total = $3 WHERE id = $1 AND status = 'running'")
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
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    run: &RunRow,
    status: RunStatus,
    result: &Value,
    error: Option<&str>,
    change_set: Option<&Value>,
) -> Result<bool, StoreError> {
    let closed = sqlx::query(
        "UPDATE refresh_runs SET status = $2, result = $3, error = $4, change_set = $5, finished_at = now(),
             objects_done = CASE WHEN $2 = 'failed' THEN objects_done ELSE objects_total END
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
    let cache_status = if status == RunStatus::Failed {
        "error"
    } else {
        "fresh"
    };
    sqlx::query(
        "UPDATE connections SET cache_status = $2, last_refresh_error = $3, last_refresh_finished = now(), last_run_id = $4, updated_at = now()
         WHERE id = $1",
    )
    .bind(run.connection_id)
    .bind(cache_status)
    .bind(error)
    .bind(run.id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
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
