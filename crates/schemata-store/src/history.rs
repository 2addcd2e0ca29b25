//! The refresh history clients read: pages of runs, newest first, per
//! connection or across an organization, and its retention.

use crate::{
    StoreError,
    runs::{COLUMNS, RunRow},
};
use schemata_core::RunStatus;
use sqlx::PgPool;
use uuid::Uuid;

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub organization_id: Uuid,
    /// One connection's runs, or the organization's.
    pub connection_id: Option<Uuid>,
    /// Only runs in these statuses (all when empty).
    pub statuses: Vec<RunStatus>,
    /// Runs older than this one (the cursor).
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// A page of runs, newest first. Run ids are UUIDv7, so id order is queue order.
pub async fn list(pool: &PgPool, query: &HistoryQuery) -> Result<Vec<RunRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs
         WHERE organization_id = $1
           AND ($2::uuid IS NULL OR connection_id = $2)
           AND (cardinality($3::text[]) = 0 OR status = ANY($3))
           AND ($4::uuid IS NULL OR id < $4)
         ORDER BY id DESC
         LIMIT $5"
    )))
    .bind(query.organization_id)
    .bind(query.connection_id)
    .bind(
        query
            .statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(query.before)
    .bind(query.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// One run of a connection of the organization.
pub async fn get(
    pool: &PgPool,
    organization_id: Uuid,
    connection_id: Uuid,
    run_id: Uuid,
) -> Result<Option<RunRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM refresh_runs
         WHERE id = $1 AND connection_id = $2 AND organization_id = $3"
    )))
    .bind(run_id)
    .bind(connection_id)
    .bind(organization_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// How many runs are queued and running now: the organization's, or (none)
/// everyone's, the queue's depth for metrics.
pub async fn active_counts(
    pool: &PgPool,
    organization_id: Option<Uuid>,
) -> Result<(i64, i64), StoreError> {
    let (queued, running): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running')
         FROM refresh_runs
         WHERE status IN ('queued', 'running') AND ($1::uuid IS NULL OR organization_id = $1)",
    )
    .bind(organization_id)
    .fetch_one(pool)
    .await?;
    Ok((queued, running))
}

/// Deletes runs that ended more than `days` ago, except each connection's
/// last one (its status page shows it).
pub async fn prune(pool: &PgPool, days: u32) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM refresh_runs r
         WHERE r.finished_at < now() - make_interval(days => $1)
           AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.last_run_id = r.id)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
