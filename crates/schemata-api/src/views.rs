//! JSON shapes of our resources, as shared/API.md spells them.

use chrono::{DateTime, SecondsFormat, Utc};
use schemata_store::connections::ConnectionRow;
use serde_json::{Value, json};

/// RFC 3339, UTC, milliseconds: `2026-03-11T10:00:00.000Z`.
pub(crate) fn timestamp(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

pub(crate) fn connection(row: &ConnectionRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "type": row.kind,
        "configuration": row.configuration,
        "status": row.status,
        "health_status": row.health_status,
        "health_message": row.health_message,
        "health_checked_at": timestamp(row.health_checked_at),
        "schema_filter": row.schema_filter,
        "table_allowlist": row.table_allowlist,
        "refresh_ttl_seconds": row.refresh_ttl_seconds,
        "auto_refresh": row.auto_refresh,
        "created_at": timestamp(Some(row.created_at)),
        "updated_at": timestamp(Some(row.updated_at)),
    })
}
