//! A refresh run as the history shows it: its options, result and change set.

use super::{
    Pagination,
    envelope::Body,
    time::{millis, millis_opt},
};
use chrono::{DateTime, Utc};
use schemata_core::{self as core, RunStatus, Trigger};
use schemata_store::runs::RunRow;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Progress {
    pub objects_done: Option<i32>,
    /// Null until the run knows how many objects it will read.
    pub objects_total: Option<i32>,
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
    /// The object's schema id (`*`: the whole source).
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

impl From<&core::RefreshResult> for RefreshResult {
    fn from(result: &core::RefreshResult) -> Self {
        Self {
            job_id: result.job_id,
            ok: result.ok,
            message: result.message.clone(),
            table_count: count(result.table_count),
            view_count: count(result.view_count),
            column_count: count(result.column_count),
            failed_table_count: count(result.failed_table_count),
            deleted_count: count(result.deleted_count),
            duration_ms: result.duration_ms,
            schemas: result
                .schemas
                .iter()
                .map(|s| SchemaSummary {
                    schema_name: s.schema_name.clone(),
                    tables_count: count(s.tables_count),
                    views_count: count(s.views_count),
                })
                .collect(),
            failures: result
                .failures
                .iter()
                .map(|f| RefreshFailure {
                    object: f.object.clone(),
                    error: f.error.clone(),
                })
                .collect(),
            objects_read: count(result.objects_read),
            objects_written: count(result.objects_written),
            changed: result.changed,
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Before and after of what changed (only the attributes that differ).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldChange {
    field: String,
    before: Map<String, Value>,
    after: Map<String, Value>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
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
    /// How many objects were added, removed and changed in all.
    counts: ChangeCounts,
    /// True on a list page whose lists were cut to [`SUMMARY_IDS`] entries
    /// each (the single-run endpoint carries the whole change set).
    changes_truncated: bool,
}

/// The sizes of a change set's lists, whole.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeCounts {
    objects_added: usize,
    objects_removed: usize,
    objects_changed: usize,
}

/// Entries a list page keeps of each list of a run's change set: a first
/// refresh of a 10,000-table source adds 10,000 objects, and a page of 50
/// such runs would carry half a million ids.
pub(crate) const SUMMARY_IDS: usize = 100;

/// A field change's attributes: always an object of the attributes that
/// differ (see `schemata_core::diff`).
fn attributes(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl ChangeSet {
    /// The change set, whole (`limit` None) or with each list cut to `limit`.
    fn of(changes: &core::ChangeSet, limit: Option<usize>) -> Self {
        let limit = limit.unwrap_or(usize::MAX);
        let cut = |list: &[String]| list.iter().take(limit).cloned().collect::<Vec<_>>();
        let truncated = [
            changes.objects_added.len(),
            changes.objects_removed.len(),
            changes.objects_changed.len(),
            changes.breaking_reasons.len(),
        ]
        .iter()
        .any(|&n| n > limit);
        Self {
            counts: ChangeCounts {
                objects_added: changes.objects_added.len(),
                objects_removed: changes.objects_removed.len(),
                objects_changed: changes.objects_changed.len(),
            },
            changes_truncated: truncated,
            objects_added: cut(&changes.objects_added),
            objects_removed: cut(&changes.objects_removed),
            objects_changed: changes
                .objects_changed
                .iter()
                .take(limit)
                .map(|o| ObjectChange {
                    schema_id: o.schema_id.clone(),
                    fields_added: o.fields_added.clone(),
                    fields_removed: o.fields_removed.clone(),
                    fields_changed: o
                        .fields_changed
                        .iter()
                        .map(|f| FieldChange {
                            field: f.field.clone(),
                            before: attributes(&f.before),
                            after: attributes(&f.after),
                        })
                        .collect(),
                    changes: (!o.changes.is_empty()).then(|| {
                        o.changes
                            .iter()
                            .map(|c| PropertyChange {
                                property: c.property.clone(),
                                before: c.before.clone(),
                                after: c.after.clone(),
                            })
                            .collect()
                    }),
                })
                .collect(),
            breaking: changes.breaking,
            breaking_reasons: cut(&changes.breaking_reasons),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunOptions {
    hard_refresh: bool,
    /// Only these schemas (a soft refresh).
    schemas: Option<Vec<String>>,
    /// Only these objects, by schema id (a soft refresh).
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
    "options": { "hard_refresh": true, "schemas": [], "tables": [] },
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
        "breaking_reasons": ["field public.customer.fax was removed"],
        "counts": { "objects_added": 1, "objects_removed": 0, "objects_changed": 1 },
        "changes_truncated": false
    }
}))]
pub(crate) struct Run {
    job_id: Uuid,
    connection_id: Uuid,
    status: RunStatus,
    trigger: Trigger,
    options: RunOptions,
    #[serde(serialize_with = "millis")]
    queued_at: DateTime<Utc>,
    #[serde(serialize_with = "millis_opt")]
    started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    finished_at: Option<DateTime<Utc>>,
    attempt: i32,
    #[serde(serialize_with = "millis_opt")]
    next_attempt_at: Option<DateTime<Utc>>,
    progress: Progress,
    error: Option<String>,
    result: Option<RefreshResult>,
    changes: Option<ChangeSet>,
}

impl From<&RunRow> for Run {
    /// The run with its whole change set (the single-run endpoint).
    fn from(run: &RunRow) -> Self {
        Self::of(run, None)
    }
}

impl Run {
    /// The run as a list page shows it: its change set summarized.
    pub(crate) fn summary(run: &RunRow) -> Self {
        Self::of(run, Some(SUMMARY_IDS))
    }

    fn of(run: &RunRow, limit: Option<usize>) -> Self {
        Self {
            job_id: run.id,
            connection_id: run.connection_id,
            status: run.status,
            trigger: run.trigger,
            options: RunOptions {
                hard_refresh: run.hard_refresh,
                schemas: Some(run.only_schemas.clone()),
                tables: Some(run.only_tables.clone()),
            },
            queued_at: run.queued_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            attempt: run.attempt,
            next_attempt_at: run.next_attempt_at,
            progress: Progress {
                objects_done: run.objects_done,
                objects_total: run.objects_total,
            },
            error: run.error.clone(),
            result: run.result.get().map(RefreshResult::from),
            changes: run.change_set.get().map(|c| ChangeSet::of(c, limit)),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveCounts {
    pub queued: i64,
    pub running: i64,
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

impl OrganizationRuns {
    pub(crate) fn new(data: Vec<Run>, counts: ActiveCounts, next_cursor: Option<String>) -> Self {
        Self {
            success: true,
            data,
            counts,
            pagination: Pagination { next_cursor },
        }
    }
}

impl Body for OrganizationRuns {}
