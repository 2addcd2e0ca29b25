//! Connection rows: configuration (sealed), health and the cache's state.

use crate::{SecretBox, StoreError};
use chrono::{DateTime, Utc};
use schemata_core::{
    CacheScope, CacheStatus, ConnectionStatus, HealthStatus, Named, SourceConfig, SourceKind,
};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

const COLUMNS: &str = "id, organization_id, name, kind, configuration, status, health_status, health_message,
    health_checked_at, schema_filter, table_allowlist, refresh_ttl_seconds, auto_refresh, cache_status,
    schema_version, last_refresh_started, last_refresh_finished, last_refresh_error, last_run_id,
    created_at, updated_at, stale_reason, scope_generation, refresh_schedule, refresh_timezone,
    refresh_on_read,
    CASE WHEN auto_refresh AND status = 'active' AND cache_status <> 'refreshing'
         THEN refresh_due_at END AS next_refresh_at";

/// [`COLUMNS`] of a query that names the table `c`.
pub(crate) const COLUMNS_OF_C: &str =
    "c.id, c.organization_id, c.name, c.kind, c.configuration, c.status,
    c.health_status, c.health_message, c.health_checked_at, c.schema_filter, c.table_allowlist,
    c.refresh_ttl_seconds, c.auto_refresh, c.cache_status, c.schema_version, c.last_refresh_started,
    c.last_refresh_finished, c.last_refresh_error, c.last_run_id, c.created_at, c.updated_at,
    c.stale_reason, c.scope_generation, c.refresh_schedule, c.refresh_timezone, c.refresh_on_read,
    CASE WHEN c.auto_refresh AND c.status = 'active' AND c.cache_status <> 'refreshing'
         THEN c.refresh_due_at END AS next_refresh_at";

/// A connection as stored, secrets excluded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: SourceKind,
    /// Redacted: safe to show.
    pub configuration: Value,
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    #[sqlx(try_from = "String")]
    pub health_status: HealthStatus,
    pub health_message: Option<String>,
    pub health_checked_at: Option<DateTime<Utc>>,
    pub schema_filter: Vec<String>,
    pub table_allowlist: Vec<String>,
    pub refresh_ttl_seconds: Option<i32>,
    pub auto_refresh: bool,
    /// As stored: `stale` is derived on read (see `CacheStatus::as_seen_at`).
    #[sqlx(try_from = "String")]
    pub cache_status: CacheStatus,
    pub schema_version: Option<String>,
    pub last_refresh_started: Option<DateTime<Utc>>,
    pub last_refresh_finished: Option<DateTime<Utc>>,
    pub last_refresh_error: Option<String>,
    pub last_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the cache no longer answers to the configuration (see
    /// [`CacheInvalidation`]); cleared by the next successful hard refresh.
    pub stale_reason: Option<String>,
    /// Bumped by every change of configuration or scope: a refresh read
    /// under an older one writes nothing.
    pub scope_generation: i64,
    /// A cron expression the scheduler follows instead of the TTL.
    pub refresh_schedule: Option<String>,
    /// The IANA time zone of `refresh_schedule`.
    pub refresh_timezone: String,
    /// A read of a stale cache queues one coalesced refresh.
    pub refresh_on_read: bool,
    /// When the scheduler refreshes next (auto-refresh on, active, not
    /// refreshing now), its backoff included.
    pub next_refresh_at: Option<DateTime<Utc>>,
}

impl ConnectionRow {
    /// The cache's status as a client sees it at `now`: a fresh cache past
    /// its TTL, or read under a configuration the connection no longer has,
    /// is stale.
    pub fn cache_status_at(&self, now: DateTime<Utc>) -> CacheStatus {
        self.cache_status
            .as_seen_at(now, self.last_refresh_finished, self.refresh_ttl_seconds)
            .invalidated(self.stale_reason.is_some())
    }

    /// The schema filter and allowlist, as stored.
    pub fn scope(&self) -> Result<CacheScope, StoreError> {
        CacheScope::parse(self.schema_filter.clone(), self.table_allowlist.clone())
            .map_err(StoreError::Corrupt)
    }
}

/// What a change of a connection does to its cache, decided by the caller
/// from the connection before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheInvalidation {
    /// The configuration changed: what was learned of the source's catalog
    /// and health no longer holds.
    pub configuration_changed: bool,
    /// The filters or the allowlist changed: cached objects outside the new
    /// scope are removed in the same transaction.
    pub scope: Option<CacheScope>,
    /// Set when the cache cannot be trusted to match the connection any
    /// more (another source, a wider scope): the cache turns `stale`.
    pub stale_reason: Option<String>,
}

/// Everything a client can set on a connection.
#[derive(Debug, Clone)]
pub struct ConnectionFields {
    pub name: String,
    pub kind: SourceKind,
    pub config: SourceConfig,
    pub status: ConnectionStatus,
    pub schema_filter: Vec<String>,
    pub table_allowlist: Vec<String>,
    pub refresh_ttl_seconds: Option<i32>,
    pub auto_refresh: bool,
    pub refresh_schedule: Option<String>,
    pub refresh_timezone: String,
    pub refresh_on_read: bool,
}

impl ConnectionFields {
    /// The schedule's next occurrence, for a connection that has one.
    fn schedule_due_at(&self) -> Option<DateTime<Utc>> {
        crate::schedule::schedule_due_at(
            self.refresh_schedule.as_deref(),
            &self.refresh_timezone,
            0,
        )
    }
}

/// Seals the configuration in its client form, secrets included; reading it back
/// goes through the same parser as a client's request.
fn seal(secrets: &SecretBox, id: Uuid, config: &SourceConfig) -> Vec<u8> {
    let plaintext =
        serde_json::to_vec(&config.sealed_form()).expect("a JSON value always serializes");
    secrets.seal(&plaintext, id.as_bytes())
}

pub async fn insert(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: Uuid,
    fields: &ConnectionFields,
) -> Result<ConnectionRow, StoreError> {
    let id = Uuid::now_v7();
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO connections (id, organization_id, name, kind, configuration, secret, status,
             schema_filter, table_allowlist, refresh_ttl_seconds, auto_refresh, source_server,
             refresh_schedule, refresh_timezone, refresh_on_read, schedule_due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(organization_id)
    .bind(&fields.name)
    .bind(fields.kind.as_str())
    .bind(fields.config.redacted())
    .bind(seal(secrets, id, &fields.config))
    .bind(fields.status.as_str())
    .bind(&fields.schema_filter)
    .bind(&fields.table_allowlist)
    .bind(fields.refresh_ttl_seconds)
    .bind(fields.auto_refresh)
    .bind(fields.config.server())
    .bind(&fields.refresh_schedule)
    .bind(&fields.refresh_timezone)
    .bind(fields.refresh_on_read)
    .bind(fields.schedule_due_at())
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Creates one connection per name, all with `fields` otherwise, in one
/// statement: for bulk imports and the scheduler benchmark.
pub async fn insert_many(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: Uuid,
    fields: &ConnectionFields,
    names: &[String],
) -> Result<u64, StoreError> {
    let ids: Vec<Uuid> = names.iter().map(|_| Uuid::now_v7()).collect();
    let sealed: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| seal(secrets, *id, &fields.config))
        .collect();
    let inserted = sqlx::query(
        "INSERT INTO connections (id, organization_id, name, kind, configuration, secret, status,
             schema_filter, table_allowlist, refresh_ttl_seconds, auto_refresh, source_server,
             refresh_schedule, refresh_timezone, refresh_on_read, schedule_due_at)
         SELECT id, $3, name, $4, $5, secret, $6, $7, $8, $9, $10, $12, $13, $14, $15, $16
         FROM UNNEST($1::uuid[], $2::text[], $11::bytea[]) AS n (id, name, secret)",
    )
    .bind(&ids)
    .bind(names)
    .bind(organization_id)
    .bind(fields.kind.as_str())
    .bind(fields.config.redacted())
    .bind(fields.status.as_str())
    .bind(&fields.schema_filter)
    .bind(&fields.table_allowlist)
    .bind(fields.refresh_ttl_seconds)
    .bind(fields.auto_refresh)
    .bind(&sealed)
    .bind(fields.config.server())
    .bind(&fields.refresh_schedule)
    .bind(&fields.refresh_timezone)
    .bind(fields.refresh_on_read)
    .bind(fields.schedule_due_at())
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected())
}

/// Writes a client's change of a connection and what it does to the cache,
/// in one transaction: from its commit, what fell out of the scope is
/// neither listed, read nor sampled, and a cache that no longer answers to
/// the configuration is `stale`.
pub async fn update(
    pool: &PgPool,
    secrets: &SecretBox,
    row: &ConnectionRow,
    fields: &ConnectionFields,
    invalidation: &CacheInvalidation,
) -> Result<ConnectionRow, StoreError> {
    let mut tx = pool.begin().await?;
    // A new configuration makes the last health check meaningless, and what
    // the last refresh learned of the source's catalog (the source may be
    // another database now; the catalog state also names its database).
    let updated: ConnectionRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE connections SET name = $3, configuration = $4, secret = $5, status = $6, schema_filter = $7,
             table_allowlist = $8, refresh_ttl_seconds = $9, auto_refresh = $10, updated_at = now(),
             source_server = $12,
             catalog_state = CASE WHEN $11 OR $14 THEN NULL ELSE catalog_state END,
             health_status = CASE WHEN $11 THEN 'unknown' ELSE health_status END,
             health_message = CASE WHEN $11 THEN NULL ELSE health_message END,
             health_checked_at = CASE WHEN $11 THEN NULL ELSE health_checked_at END,
             stale_reason = CASE WHEN $13::text IS NOT NULL AND cache_status <> 'none' THEN $13
                                 ELSE stale_reason END,
             scope_generation = scope_generation + CASE WHEN $11 OR $14 THEN 1 ELSE 0 END,
             refresh_on_read = $17,
             -- A new schedule starts afresh: its next occurrence, no backoff.
             failed_scheduled_runs = CASE WHEN refresh_schedule IS DISTINCT FROM $15
                                           OR refresh_timezone <> $16 THEN 0
                                          ELSE failed_scheduled_runs END,
             schedule_due_at = CASE WHEN refresh_schedule IS DISTINCT FROM $15
                                     OR refresh_timezone <> $16 THEN $18
                                    ELSE schedule_due_at END,
             refresh_schedule = $15, refresh_timezone = $16
         WHERE id = $1 AND organization_id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(row.id)
    .bind(row.organization_id)
    .bind(&fields.name)
    .bind(fields.config.redacted())
    .bind(seal(secrets, row.id, &fields.config))
    .bind(fields.status.as_str())
    .bind(&fields.schema_filter)
    .bind(&fields.table_allowlist)
    .bind(fields.refresh_ttl_seconds)
    .bind(fields.auto_refresh)
    .bind(invalidation.configuration_changed)
    .bind(fields.config.server())
    .bind(invalidation.stale_reason.as_deref())
    .bind(invalidation.scope.is_some())
    .bind(&fields.refresh_schedule)
    .bind(&fields.refresh_timezone)
    .bind(fields.refresh_on_read)
    .bind(fields.schedule_due_at())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::ConnectionGone(row.id))?;
    let mut updated = updated;
    if let Some(scope) = &invalidation.scope {
        let versioned = updated.schema_version.is_some();
        if let Some(version) =
            crate::snapshots::narrow_to(&mut tx, row.id, versioned, scope).await?
        {
            updated.schema_version = Some(version);
        }
    }
    tx.commit().await?;
    Ok(updated)
}

/// One connection of an organization; `None` also when it belongs to another.
pub async fn get(
    pool: &PgPool,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<ConnectionRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM connections WHERE id = $1 AND organization_id = $2"
    )))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// A page of an organization's connections in creation order, after the cursor.
pub async fn list(
    pool: &PgPool,
    organization_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM connections
         WHERE organization_id = $1 AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )))
    .bind(organization_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn delete(pool: &PgPool, organization_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM connections WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// The decrypted configuration, for the API's health checks and the worker. It is
/// parsed again as a client's would be, so a configuration stored before a rule
/// was tightened is refused instead of used.
pub async fn source_config(
    pool: &PgPool,
    secrets: &SecretBox,
    id: Uuid,
) -> Result<SourceConfig, StoreError> {
    let (kind, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT kind, secret FROM connections WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::ConnectionGone(id))?;
    let kind: SourceKind = kind.parse()?;
    let plaintext = secrets.open(&sealed, id.as_bytes())?;
    let raw: Value = serde_json::from_slice(&plaintext)
        .map_err(|e| StoreError::Corrupt(format!("sealed configuration: {e}")))?;
    SourceConfig::parse(kind, &raw).map_err(|e| StoreError::StaleConfiguration(e.to_string()))
}

/// Records the outcome of a health check of the connection as it was at
/// `checked_version` (its `updated_at`): a check that raced a change of
/// configuration says nothing of the new one, and is not recorded.
pub async fn set_health(
    pool: &PgPool,
    id: Uuid,
    checked_version: DateTime<Utc>,
    healthy: bool,
    message: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE connections SET health_status = $2, health_message = $3, health_checked_at = now()
         WHERE id = $1 AND updated_at = $4",
    )
    .bind(id)
    .bind(HealthStatus::of(healthy).as_str())
    .bind(message)
    .bind(checked_version)
    .execute(pool)
    .await?;
    Ok(())
}

/// A connection by id alone, for the worker (the job already names it).
pub async fn get_by_id(pool: &PgPool, id: Uuid) -> Result<Option<ConnectionRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM connections WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Locks the connection row for the rest of `tx`. Every transaction that changes
/// runs takes this lock first, so they cannot deadlock on each other. False when
/// the connection is gone.
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<bool, StoreError> {
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM connections WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.is_some())
}

/// Locks the connection row for the rest of `tx` and reads its scope
/// generation (none when the connection is gone).
pub async fn locked_generation(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<i64>, StoreError> {
    let generation = sqlx::query_scalar(
        "SELECT scope_generation FROM connections WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(generation)
}

/// An organization's connection with this name, if any.
pub async fn find_by_name(
    pool: &PgPool,
    organization_id: Uuid,
    name: &str,
) -> Result<Option<ConnectionRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM connections WHERE organization_id = $1 AND name = $2"
    )))
    .bind(organization_id)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Records the server a connection's source lives on, when it changed (rows
/// from before the column existed learn it at their first refresh).
pub async fn note_source_server(pool: &PgPool, id: Uuid, server: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE connections SET source_server = $2 WHERE id = $1 AND source_server IS DISTINCT FROM $2",
    )
    .bind(id)
    .bind(server)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a healthy verdict after a refresh of the connection failed: the
/// next refresh request checks its source live again.
pub async fn forget_health(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE connections SET health_status = 'unknown', health_checked_at = NULL
         WHERE id = $1 AND health_status = 'healthy'",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
