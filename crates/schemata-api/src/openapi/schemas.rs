//! The JSON shapes of the API, as types the OpenAPI document is generated
//! from. Handlers build their bodies with `json!`; the testkit checks every
//! response a test sees against these, so the two cannot drift apart.
//! Every type is closed (`additionalProperties: false`): a field a handler adds
//! without documenting it fails the tests.

#![allow(dead_code)] // Read by the derive, never constructed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Wraps `$data` as `{"success": true, "data": …}`.
macro_rules! envelope {
    ($name:ident, $data:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            success: bool,
            data: $data,
        }
    };
}

/// Wraps a list as `{"success": true, "data": […], "pagination": {…}}`.
macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            success: bool,
            data: Vec<$item>,
            pagination: Pagination,
        }
    };
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pagination {
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Every error: `{"success": false, "error": {"code", "message", "requestId"}}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "success": false,
    "error": {
        "code": "not_found",
        "message": "Connection not found: 0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
        "requestId": "01JD3K9W7Q4V8T2M6X5B1N0C9R"
    }
}))]
pub(crate) struct ErrorEnvelope {
    success: bool,
    error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorBody {
    code: ErrorCode,
    /// For people: what went wrong and what to do. Never quotes a secret.
    message: String,
    /// Also sent as `X-Request-Id`; quote it when asking for help.
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    ConnectionUnhealthy,
    IdempotencyKeyReused,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestHeaderFieldsTooLarge,
    CredentialsUnreadable,
    NotReady,
    Unavailable,
    SourceError,
    Internal,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SourceType {
    Postgresql,
    Mysql,
    Sqlite,
    Dynamodb,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConnectionStatus {
    Active,
    Disabled,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    Unknown,
    Healthy,
    Unhealthy,
}

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
    "created_at": "2026-11-22T09:58:12.512Z",
    "updated_at": "2026-11-22T10:00:00.131Z"
}))]
pub(crate) struct Connection {
    id: Uuid,
    name: String,
    #[serde(rename = "type")]
    kind: SourceType,
    /// The source's settings as sent, secrets redacted (`url`, or `host`,
    /// `port`, `user`, `password`, `database`, … by source type; `path` for SQLite).
    configuration: serde_json::Map<String, Value>,
    status: ConnectionStatus,
    health_status: HealthStatus,
    health_message: Option<String>,
    health_checked_at: Option<DateTime<Utc>>,
    /// Only these schemas are introspected (empty: all).
    schema_filter: Vec<String>,
    /// Only these objects are cached, by schema id (`schema.table`, a part
    /// holding `.` or `"` double-quoted); empty: all.
    table_allowlist: Vec<String>,
    /// How long a cache stays `fresh`; null: it never goes stale.
    refresh_ttl_seconds: Option<i32>,
    /// Refresh on its own when the cache goes stale.
    auto_refresh: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `POST /api/connections`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "warehouse",
    "type": "postgresql",
    "configuration": { "url": "postgres://reader:secret@db.internal:5432/app" },
    "schema_filter": ["public"],
    "refresh_ttl_seconds": 900
}))]
pub(crate) struct CreateConnection {
    name: String,
    #[serde(rename = "type")]
    kind: SourceType,
    configuration: serde_json::Map<String, Value>,
    schema_filter: Option<Vec<String>>,
    table_allowlist: Option<Vec<String>>,
    refresh_ttl_seconds: Option<i32>,
    auto_refresh: Option<bool>,
    status: Option<ConnectionStatus>,
}

/// `PATCH /api/connections/{id}`: any of these; `type` may be sent but not changed.
/// Send `********` as the password to keep the stored one (same host, port,
/// user and database only).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "refresh_ttl_seconds": 3600, "auto_refresh": true }))]
pub(crate) struct UpdateConnection {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<SourceType>,
    configuration: Option<serde_json::Map<String, Value>>,
    schema_filter: Option<Vec<String>>,
    table_allowlist: Option<Vec<String>>,
    refresh_ttl_seconds: Option<i32>,
    auto_refresh: Option<bool>,
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
    health: HealthStatus,
    /// Why it is unhealthy.
    message: Option<String>,
    checked_at: DateTime<Utc>,
    latency_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CacheStatus {
    None,
    Refreshing,
    Fresh,
    Stale,
    Error,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Partial,
    Failed,
    Cancelled,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Trigger {
    Api,
    Schedule,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Progress {
    objects_done: Option<i32>,
    /// Null until the run knows how many objects it will read.
    objects_total: Option<i32>,
}

/// A run in progress (`current_job`) or queued behind it (`next_job`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveJob {
    job_id: Uuid,
    status: RunStatus,
    /// 1 for the first attempt; higher after a transient failure.
    attempt: i32,
    progress: Progress,
    queued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    /// When a retry after a transient failure is due.
    next_attempt_at: Option<DateTime<Utc>>,
    /// The error of the previous attempt.
    last_error: Option<String>,
}

/// What clients poll after a 202.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "cache_status": "fresh",
    "last_refresh_started": "2026-11-22T10:00:00.012Z",
    "last_refresh_finished": "2026-11-22T10:00:00.412Z",
    "last_refresh_error": null,
    "schema_version": "9f2c1d0e5a4b3c2d",
    "current_job": null,
    "next_job": null,
    "last_result": {
        "job_id": "0192f7c4-6a1b-7c2d-8e3f-4a5b6c7d8e9f",
        "ok": true,
        "message": "Refresh complete. 22 table(s) refreshed, 0 failed, 0 deleted.",
        "table_count": 22,
        "view_count": 7,
        "column_count": 171,
        "failed_table_count": 0,
        "deleted_count": 0,
        "duration_ms": 398,
        "schemas": [{ "schema_name": "public", "tables_count": 22, "views_count": 7 }],
        "failures": [],
        "objects_read": 29,
        "objects_written": 29,
        "changed": true
    }
}))]
pub(crate) struct Status {
    cache_status: CacheStatus,
    last_refresh_started: Option<DateTime<Utc>>,
    last_refresh_finished: Option<DateTime<Utc>>,
    last_refresh_error: Option<String>,
    /// Content hash of the cached schema and the overrides; also the `ETag`.
    schema_version: Option<String>,
    current_job: Option<ActiveJob>,
    next_job: Option<ActiveJob>,
    last_result: Option<RefreshResult>,
}

/// `202 Accepted` to a refresh request; `Location` points at the status.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "job_id": "0192f7c4-6a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "connection_id": "0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
    "status": "queued",
    "coalesced": false,
    "widened": false,
    "follows_job_id": null
}))]
pub(crate) struct RefreshAccepted {
    job_id: Uuid,
    connection_id: Uuid,
    status: RunStatus,
    /// Joined a run already queued or running that covers this request.
    coalesced: bool,
    /// Joined a queued run and widened its scope to cover this request.
    widened: bool,
    /// The running refresh this one will start after.
    follows_job_id: Option<Uuid>,
}

/// `200` to a refresh request that needs no run: a disabled connection
/// (`skipped`), or with `max_age=` a cache young enough (the status document).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum RefreshNotNeeded {
    Skipped(Skipped),
    FreshEnough(Box<Status>),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Skipped {
    skipped: bool,
    message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaSummary {
    schema_name: String,
    tables_count: i64,
    views_count: i64,
}

/// An object a run could not read; the run is `partial`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshFailure {
    /// `schema.name`.
    object: String,
    error: String,
}

/// What a finished run found.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshResult {
    job_id: Uuid,
    ok: bool,
    message: String,
    table_count: i64,
    view_count: i64,
    column_count: i64,
    failed_table_count: i64,
    deleted_count: i64,
    duration_ms: i64,
    schemas: Vec<SchemaSummary>,
    failures: Vec<RefreshFailure>,
    /// Objects read from the source (an incremental run skips unchanged ones).
    objects_read: i64,
    /// Objects written to the cache.
    objects_written: i64,
    /// Whether the cached schema changed.
    changed: bool,
}

/// Before and after of what changed (only the attributes that differ).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldChange {
    field: String,
    before: serde_json::Map<String, Value>,
    after: serde_json::Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PropertyChange {
    /// `kind`, `comment`, `primary_keys`, `indexes`, …
    property: String,
    before: Value,
    after: Value,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectChange {
    schema_id: String,
    fields_added: Vec<String>,
    fields_removed: Vec<String>,
    fields_changed: Vec<FieldChange>,
    changes: Option<Vec<PropertyChange>>,
}

/// What a run changed in the cache, and whether a client reading the old
/// schema could fail on the new one.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeSet {
    objects_added: Vec<String>,
    objects_removed: Vec<String>,
    objects_changed: Vec<ObjectChange>,
    breaking: bool,
    /// Why it is breaking, for people.
    breaking_reasons: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunOptions {
    hard_refresh: bool,
    /// Only these schemas (a soft refresh).
    schemas: Option<Vec<String>>,
    /// Only these `schema.table` entries (a soft refresh).
    tables: Option<Vec<String>>,
}

/// One refresh run, from the history.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "job_id": "0192f7c4-6a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "connection_id": "0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
    "status": "succeeded",
    "trigger": "api",
    "options": { "hard_refresh": true, "schemas": null, "tables": null },
    "queued_at": "2026-11-22T10:00:00.003Z",
    "started_at": "2026-11-22T10:00:00.012Z",
    "finished_at": "2026-11-22T10:00:00.412Z",
    "attempt": 1,
    "next_attempt_at": null,
    "progress": { "objects_done": 29, "objects_total": 29 },
    "error": null,
    "result": null,
    "changes": {
        "objects_added": ["public.invoices"],
        "objects_removed": [],
        "objects_changed": [{
            "schema_id": "public.customer",
            "fields_added": [],
            "fields_removed": ["fax"],
            "fields_changed": []
        }],
        "breaking": true,
        "breaking_reasons": ["public.customer: field `fax` removed"]
    }
}))]
pub(crate) struct Run {
    job_id: Uuid,
    connection_id: Uuid,
    status: RunStatus,
    trigger: Trigger,
    options: RunOptions,
    queued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    attempt: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    progress: Progress,
    error: Option<String>,
    result: Option<RefreshResult>,
    changes: Option<ChangeSet>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveCounts {
    queued: i64,
    running: i64,
}

/// `GET /api/refreshes`: runs across the organization, with what is active now.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationRuns {
    success: bool,
    data: Vec<Run>,
    counts: ActiveCounts,
    pagination: Pagination,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjectKind {
    Table,
    View,
    MaterializedView,
    PartitionedTable,
    ForeignTable,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Datetime,
    Date,
    Time,
    Json,
    Uuid,
    Binary,
    Array,
    Unknown,
}

/// A cached object in a list: no fields.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "public.customer",
    "schema": "public",
    "name": "customer",
    "kind": "table",
    "field_count": 10,
    "row_estimate": 599,
    "partition_count": null,
    "comment": null
}))]
pub(crate) struct ObjectSummary {
    /// `schema.name`, the `{schema_id}` of the object's routes.
    id: String,
    schema: String,
    name: String,
    kind: ObjectKind,
    field_count: i64,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Association {
    schema_id: String,
    field: String,
    reference_to: Vec<String>,
    referenced_field: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FieldConflict {
    SourceFieldRemoved,
    SourceTypeChanged,
}

/// A field as clients see it: detected by a refresh, overridden, or added by a user.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "email",
    "name": "email",
    "type": "string",
    "remote_type": "character varying(50)",
    "detected_type": "string",
    "nullable": true,
    "default": null,
    "ordinal": 5,
    "is_primary_key": false,
    "source_primary_key": false,
    "user_managed": false,
    "label": null,
    "path": null,
    "conflict": null,
    "association": null,
    "comment": null,
    "is_generated": false,
    "generation_expression": null,
    "is_auto_increment": false,
    "enum_values": null,
    "coverage": null
}))]
pub(crate) struct Field {
    id: String,
    name: String,
    #[serde(rename = "type")]
    field_type: FieldType,
    /// The source's own type; null for a user field.
    remote_type: Option<String>,
    detected_type: Option<FieldType>,
    nullable: bool,
    default: Option<String>,
    ordinal: Option<i32>,
    is_primary_key: bool,
    source_primary_key: bool,
    user_managed: bool,
    label: Option<String>,
    path: Option<String>,
    conflict: Option<FieldConflict>,
    association: Option<Association>,
    comment: Option<String>,
    is_generated: bool,
    generation_expression: Option<String>,
    is_auto_increment: bool,
    enum_values: Option<Vec<String>>,
    /// DynamoDB: the share of sampled items that had this attribute (0 to 1,
    /// two decimals); null for sources with a declared schema.
    coverage: Option<f64>,
    /// Present when the primary key was set by a user: whether this field is in it.
    primary_key_override: Option<bool>,
    /// A user field's example value.
    example: Option<Value>,
    /// A user field's definition.
    definition: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Index {
    name: String,
    columns: Vec<String>,
    unique: bool,
    primary: bool,
    definition: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reference {
    schema_id: String,
    fields: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForeignKey {
    name: String,
    columns: Vec<String>,
    references: Reference,
    on_delete: Option<String>,
    on_update: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UniqueConstraint {
    name: String,
    columns: Vec<String>,
}

/// One cached object with its fields, keys and indexes, overrides applied.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectDetail {
    id: String,
    schema: String,
    name: String,
    kind: ObjectKind,
    field_count: i64,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    comment: Option<String>,
    fields: Vec<Field>,
    /// The effective key: a user's override, else the detected one.
    primary_keys: Vec<String>,
    detected_primary_keys: Vec<String>,
    /// `source_field_removed` when a user's key names a field the source no longer has.
    primary_key_conflict: Option<FieldConflict>,
    indexes: Vec<Index>,
    foreign_keys: Vec<ForeignKey>,
    unique_constraints: Vec<UniqueConstraint>,
    /// Source-specific extras (e.g. a view's definition).
    properties: Option<serde_json::Map<String, Value>>,
}

/// `POST …/fields`: ours (`name`) or Polytomic's (`field_id`, `label`) shape.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFieldInput {
    field_id: Option<String>,
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: FieldType,
    path: Option<String>,
    definition: Option<Value>,
    example: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "fields": [{ "name": "lifetime_value", "type": "number", "path": "$.ltv" }] }))]
pub(crate) struct UpsertFields {
    /// At most 500; one bad field writes none.
    fields: Vec<UserFieldInput>,
}

/// `PATCH …/fields/{field_id}`: a key left out is kept; `null` or `""` clears it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "label": "Customer email", "type": "string" }))]
pub(crate) struct PatchField {
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: Option<FieldType>,
    path: Option<String>,
    definition: Option<Value>,
    example: Option<Value>,
}

/// A field of a primary key: its name, or Polytomic's flagged form.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum PrimaryKeyInput {
    Name(String),
    Flagged(FlaggedKey),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlaggedKey {
    field_id: String,
    is_primary_key: Option<bool>,
}

/// `PUT …/primary_keys`: the key is now these fields, in order (empty: the detected key).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "fields": ["customer_id", "store_id"] }))]
pub(crate) struct PrimaryKeys {
    fields: Vec<PrimaryKeyInput>,
}

/// `/healthz` and `/readyz`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeState {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    status: String,
}

/// The events a webhook hears.
#[derive(Serialize, ToSchema)]
pub(crate) enum WebhookEvent {
    /// Every run's end: succeeded, partial, failed or cancelled.
    #[serde(rename = "refresh.finished")]
    RefreshFinished,
    /// A run that changed the cached schema.
    #[serde(rename = "schema.changed")]
    SchemaChanged,
    /// A run whose changes could break a reader of the old schema.
    #[serde(rename = "schema.breaking_change")]
    SchemaBreakingChange,
}

/// `POST /api/webhooks`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/schemata",
    "events": ["schema.changed", "schema.breaking_change"]
}))]
pub(crate) struct CreateWebhook {
    /// http(s); its host must pass the server's access policy.
    url: String,
    events: Vec<WebhookEvent>,
    /// Only these connections' runs (default: every connection of the organization).
    connection_ids: Option<Vec<Uuid>>,
}

/// A webhook subscription.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Webhook {
    id: Uuid,
    /// As given, with its password and query values shown as `********`.
    url: String,
    events: Vec<WebhookEvent>,
    /// Null: every connection of the organization.
    connection_ids: Option<Vec<Uuid>>,
    created_at: DateTime<Utc>,
}

/// A webhook just created, with its signing secret (shown this once).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookCreated {
    id: Uuid,
    /// As given, with its password and query values shown as `********`.
    url: String,
    events: Vec<WebhookEvent>,
    connection_ids: Option<Vec<Uuid>>,
    created_at: DateTime<Utc>,
    /// Key of the HMAC-SHA256 in `Schemata-Signature`; store it now.
    secret: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up after the retry window (24 h by default).
    Failed,
}

/// One event sent (or to be sent) to a webhook.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Delivery {
    /// The payload's `id`: receivers dedupe on it.
    id: Uuid,
    event: WebhookEvent,
    connection_id: Uuid,
    job_id: Uuid,
    status: DeliveryStatus,
    attempts: i32,
    created_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status; null when no answer came.
    last_status_code: Option<i32>,
    /// Why the last attempt failed (refused, timed out, a non-2xx answer…).
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

envelope!(ConnectionEnvelope, Connection, "One connection.");
envelope!(
    HealthCheckEnvelope,
    HealthCheck,
    "A health check's outcome."
);
envelope!(StatusEnvelope, Status, "The cache's status.");
envelope!(
    RefreshAcceptedEnvelope,
    RefreshAccepted,
    "A refresh accepted."
);
envelope!(
    RefreshNotNeededEnvelope,
    RefreshNotNeeded,
    "A refresh not needed."
);
envelope!(RunEnvelope, Run, "One run.");
envelope!(ObjectEnvelope, ObjectDetail, "One cached object.");
envelope!(FieldEnvelope, Field, "One field.");
envelope!(
    RecordsEnvelope,
    Vec<serde_json::Map<String, Value>>,
    "Sample rows, as JSON objects keyed by field name."
);
envelope!(ProbeEnvelope, ProbeState, "A probe's answer.");
page!(ConnectionPage, Connection, "A page of connections.");
page!(RunPage, Run, "A page of runs, newest first.");
page!(ObjectPage, ObjectSummary, "A page of cached objects.");
envelope!(WebhookEnvelope, Webhook, "One webhook.");
envelope!(
    WebhookCreatedEnvelope,
    WebhookCreated,
    "A new webhook and its secret."
);
page!(WebhookPage, Webhook, "A page of webhooks.");
page!(
    DeliveryPage,
    Delivery,
    "A page of deliveries, newest first."
);
