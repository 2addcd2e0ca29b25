//! A connection, what creates and changes one, and a health check's outcome.

use super::time::{millis, millis_opt};
use chrono::{DateTime, Utc};
use schemata_core::{ConnectionStatus, HealthStatus, SourceKind};
use schemata_store::connections::ConnectionRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// A connection to a source. Passwords and other secrets in `configuration`
/// are always shown as `********`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
    "name": "warehouse",
    "type": "postgresql",
    "configuration": { "url": "postgres://reader:********@db.internal:5432/app" },
    "status": "active",
    "health_status": "healthy",
    "health_message": null,
    "health_checked_at": "2026-11-22T10:00:00.000Z",
    "schema_filter": ["public"],
    "table_allowlist": [],
    "refresh_ttl_seconds": 900,
    "auto_refresh": false,
    "refresh_schedule": null,
    "refresh_timezone": "UTC",
    "refresh_on_read": false,
    "next_refresh_at": null,
    "created_at": "2026-11-22T09:58:12.512Z",
    "updated_at": "2026-11-22T10:00:00.131Z"
}))]
pub(crate) struct Connection {
    id: Uuid,
    name: String,
    #[serde(rename = "type")]
    kind: SourceKind,
    /// The source's settings as sent, secrets redacted (`url`, or `host`,
    /// `port`, `user`, `password`, `database`, … by source type; `path` for SQLite).
    configuration: Map<String, Value>,
    status: ConnectionStatus,
    health_status: HealthStatus,
    health_message: Option<String>,
    #[serde(serialize_with = "millis_opt")]
    health_checked_at: Option<DateTime<Utc>>,
    /// Only these schemas are introspected (empty: all).
    schema_filter: Vec<String>,
    /// Only these objects are cached, by schema id (`schema.table`, a part
    /// holding `.` or `"` double-quoted); empty: all.
    table_allowlist: Vec<String>,
    /// How long a cache stays `fresh`; null: it never goes stale.
    refresh_ttl_seconds: Option<i32>,
    /// Refresh on its own: one TTL after the last refresh, or at the
    /// occurrences of `refresh_schedule`.
    auto_refresh: bool,
    /// A cron expression (minute hour day-of-month month day-of-week) the
    /// scheduler follows instead of the TTL; null: the TTL.
    refresh_schedule: Option<String>,
    /// The IANA time zone `refresh_schedule` is read in.
    refresh_timezone: String,
    /// A read of a stale cache answers at once and queues one coalesced refresh.
    refresh_on_read: bool,
    /// When the scheduler refreshes next (its backoff included); null when
    /// auto-refresh is off, the connection disabled, or a refresh under way.
    #[serde(serialize_with = "millis_opt")]
    next_refresh_at: Option<DateTime<Utc>>,
    /// With `?include=status`: the body of the status endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_status: Option<Box<super::Status>>,
    #[serde(serialize_with = "millis")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "millis")]
    updated_at: DateTime<Utc>,
}

impl Connection {
    /// The connection with its status (`?include=status`).
    pub fn with_status(mut self, status: super::Status) -> Self {
        self.schema_status = Some(Box::new(status));
        self
    }
}

impl From<&ConnectionRow> for Connection {
    fn from(row: &ConnectionRow) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            kind: row.kind,
            // Stored as the object the client sent (redacted).
            configuration: row.configuration.as_object().cloned().unwrap_or_default(),
            status: row.status,
            health_status: row.health_status,
            health_message: row.health_message.clone(),
            health_checked_at: row.health_checked_at,
            schema_filter: row.schema_filter.clone(),
            table_allowlist: row.table_allowlist.clone(),
            refresh_ttl_seconds: row.refresh_ttl_seconds,
            auto_refresh: row.auto_refresh,
            refresh_schedule: row.refresh_schedule.clone(),
            refresh_timezone: row.refresh_timezone.clone(),
            refresh_on_read: row.refresh_on_read,
            next_refresh_at: row.next_refresh_at,
            schema_status: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// `POST /api/connections`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "warehouse",
    "type": "postgresql",
    "configuration": { "url": "postgres://reader:secret@db.internal:5432/app" },
    "schema_filter": ["public"],
    "refresh_ttl_seconds": 900
}))]
pub(crate) struct CreateConnection {
    pub name: String,
    /// Parsed by the handler, which answers an unknown type with the list.
    #[serde(rename = "type")]
    #[schema(value_type = SourceKind)]
    pub kind: String,
    /// By `type`. `postgresql`, `mysql`: `{url}` or `{host, port, database,
    /// user, password, sslmode, …}`. `sqlite`: `{path}`. `dynamodb`:
    /// `{region, access_key_id, secret_access_key, session_token?}`, `{region,
    /// credentials: "environment"}` or `{region, role_arn}` (an assumed IAM
    /// role; Schemata adds a read-only `external_id` for its trust policy),
    /// each with `endpoint?` and `table_prefix?`. `snowflake`: `{account,
    /// user, password | private_key (PKCS#8 PEM) with private_key_passphrase?,
    /// database, warehouse?, role?, endpoint?}`. Secrets come back as
    /// `********`.
    // Read as any value, so that a configuration that is not an object is
    // answered by its parser, with the fields the type takes.
    #[schema(value_type = Map<String, Value>)]
    pub configuration: Value,
    #[serde(default)]
    #[schema(required = false)]
    pub schema_filter: Vec<String>,
    #[serde(default)]
    #[schema(required = false)]
    pub table_allowlist: Vec<String>,
    pub refresh_ttl_seconds: Option<i32>,
    #[serde(default)]
    #[schema(required = false)]
    pub auto_refresh: bool,
    /// A cron expression followed instead of the TTL (with `auto_refresh`).
    pub refresh_schedule: Option<String>,
    /// The IANA time zone of `refresh_schedule` (default `UTC`).
    pub refresh_timezone: Option<String>,
    #[serde(default)]
    #[schema(required = false)]
    pub refresh_on_read: bool,
    #[schema(value_type = Option<ConnectionStatus>)]
    pub status: Option<String>,
}

/// `PATCH /api/connections/{id}`: any of these; `type` may be sent but not changed.
/// Send `********` as the password to keep the stored one (same host, port,
/// user and database only).
///
/// Read field by field by the handler (a key's absence and its `null` differ
/// for `refresh_ttl_seconds`); this type is its documented shape.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "refresh_ttl_seconds": 3600, "auto_refresh": true }))]
pub(crate) struct UpdateConnection {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<SourceKind>,
    configuration: Option<Map<String, Value>>,
    schema_filter: Option<Vec<String>>,
    table_allowlist: Option<Vec<String>>,
    refresh_ttl_seconds: Option<i32>,
    auto_refresh: Option<bool>,
    /// null removes the schedule (back to the TTL).
    refresh_schedule: Option<String>,
    refresh_timezone: Option<String>,
    refresh_on_read: Option<bool>,
    status: Option<ConnectionStatus>,
}

/// The result of `POST /api/connections/{id}/test`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "health": "healthy",
    "message": null,
    "checked_at": "2026-11-22T10:00:00.000Z",
    "latency_ms": 4
}))]
pub(crate) struct HealthCheck {
    pub health: HealthStatus,
    /// Why it is unhealthy.
    pub message: Option<String>,
    #[serde(serialize_with = "millis")]
    pub checked_at: DateTime<Utc>,
    pub latency_ms: Option<i64>,
}
