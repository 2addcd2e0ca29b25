//! Everything the status endpoint shows, in one query: clients poll it after
//! every 202, so it must cost one round trip.

use crate::{StoreError, StoredJson, connections::ConnectionRow};
use chrono::{DateTime, Utc};
use schemata_core::{RefreshResult, RunStatus};
use serde::Deserialize;
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

/// A queued or running run, as the status shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct ActiveRun {
    pub id: Uuid,
    pub status: RunStatus,
    pub attempt: i32,
    pub objects_done: Option<i32>,
    pub objects_total: Option<i32>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusRow {
    #[sqlx(flatten)]
    pub connection: ConnectionRow,
    /// Running first, then queued.
    pub active: Json<Vec<ActiveRun>>,
    pub last_result: StoredJson<RefreshResult>,
    /// See `overrides::digest`; empty when there are none.
    pub overrides_digest: Option<String>,
}

/// What a status row holds beside the connection's own columns, for the
/// connections named `c`.
fn status_columns() -> String {
    format!(
        r#"{columns},
               coalesce((SELECT json_agg(a ORDER BY a.status DESC, a.queued_at) FROM (
                   SELECT id, status, attempt, objects_done, objects_total, queued_at, started_at,
                          next_attempt_at, error
                   FROM refresh_runs WHERE connection_id = c.id AND status IN ('queued', 'running')
               ) a), '[]'::json) AS active,
               (SELECT result FROM refresh_runs WHERE id = c.last_run_id) AS last_result,
               {digest} AS overrides_digest"#,
        columns = crate::connections::COLUMNS_OF_C,
        digest = crate::overrides::digest_if_any_sql("c.id"),
    )
}

/// The connection `id` of `organization_id` with its active runs, its last
/// result and its overrides' digest; none when it is not theirs.
pub async fn snapshot(
    pool: &PgPool,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<StatusRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM connections c WHERE c.id = $1 AND c.organization_id = $2",
        status_columns()
    )))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// A page of an organization's connections with their statuses, in
/// creation order after the cursor: one query for the whole page.
pub async fn page(
    pool: &PgPool,
    organization_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<StatusRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM connections c
         WHERE c.organization_id = $1 AND ($2::uuid IS NULL OR c.id > $2)
         ORDER BY c.id LIMIT $3",
        status_columns()
    )))
    .bind(organization_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The channel the status triggers notify (migration `status_notifications`).
const STATUS_CHANNEL: &str = "schemata_status";

/// Changes to what statuses show, as the database notifies them at commit.
pub struct StatusChanges(sqlx::postgres::PgListener);

impl StatusChanges {
    /// Listens on a session of its own (not one of a pool's: it is held for
    /// as long as the process runs).
    pub async fn listen(database_url: &str) -> Result<Self, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(database_url).await?;
        // Say at once that the session was lost, rather than first trying to
        // reconnect (for as long as the database is away): the caller must
        // stop trusting what it kept the moment notifications may be missed.
        listener.eager_reconnect(false);
        listener.listen(STATUS_CHANNEL).await?;
        Ok(Self(listener))
    }

    /// The next connection whose status changed (`Some(None)`: one that could
    /// not be named), or `None` once the connection to the database was lost:
    /// whatever was notified until then is gone.
    pub async fn next(&mut self) -> Result<Option<Option<Uuid>>, StoreError> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|notification| notification.payload().parse().ok()))
    }
}
