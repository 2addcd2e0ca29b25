//! `GET /api/connections/{id}/schemas/{schema_id}/records?limit=`: a live sample
//! of a cached object's rows, read through the access policy in a read-only
//! session with a statement timeout.

use crate::{
    auth::{Authorized, SchemasRead},
    dto::{self, Body},
    error::ApiError,
    own_connection::OwnConnectionId,
    state::AppState,
};
use actix_web::{HttpResponse, web};
use schemata_core::{ConnectionStatus, SchemaId};
use schemata_sources::{Source, SourceError, connect, records::MAX_LIMIT};
use schemata_store::{cache, connections as stored};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

const DEFAULT_LIMIT: u32 = 10;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsQuery {
    /// Rows to read, 1 to 100 (default 10).
    limit: Option<u32>,
}

/// A live sample of the object's rows, read from the source through the
/// access policy, in the cache's types.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/{schema_id}/records", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it."), RecordsQuery),
    responses(
        (status = 200, description = "Sample rows.", body = dto::RecordsEnvelope),
        (status = 404, description = "No such connection or cached object.", body = dto::ErrorEnvelope),
        (status = 409, description = "Disabled connection, or unhealthy source.", body = dto::ErrorEnvelope),
        (status = 502, description = "`source_error`: the source failed the read.", body = dto::ErrorEnvelope),
        (status = 503, description = "Too many source reads in flight.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn records(
    _caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    query: web::Query<RecordsQuery>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id) = path.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}."
        )));
    }
    let row = connection.load(&state).await?;
    // Disabled means Schemata leaves the source alone, for samples as for refreshes.
    if row.status == ConnectionStatus::Disabled {
        return Err(ApiError::Conflict(
            "Connection is disabled. Enable it before reading from its source.".into(),
        ));
    }
    let schema_id = SchemaId::parse(&raw_schema_id).map_err(ApiError::BadRequest)?;
    let object = cache::get_object(&state.pool, row.id, &schema_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Object not found in the cached schema: {schema_id}. Refresh the connection first."
            ))
        })?;
    let kind = row.kind;
    let config = stored::source_config(&state.pool, &state.secrets, row.id).await?;
    let started = tokio::time::Instant::now();
    let Ok(permits) = tokio::time::timeout(
        state.health_timeout / 2,
        state.health_slots.acquire(row.organization_id),
    )
    .await
    else {
        return Err(ApiError::Unavailable(
            "Too many source reads are in flight for your organization; try again shortly.".into(),
        ));
    };
    let sampled = match connect(kind, &config, state.source_limits, &state.policy) {
        Ok(source) => source.sample(&object, limit).await,
        Err(error) => Err(error),
    };
    drop(permits);
    match sampled {
        Ok(rows) => {
            Ok(dto::RecordsEnvelope::new(rows.into_iter().filter_map(into_object).collect()).ok())
        }
        Err(SourceError::Unreachable) => {
            // As for health checks: a closed port and a silent one look alike.
            tokio::time::sleep_until(started + state.health_timeout).await;
            Err(ApiError::ConnectionUnhealthy(
                "Connection is unhealthy: unreachable".into(),
            ))
        }
        Err(
            error @ (SourceError::Refused
            | SourceError::Rejected(_)
            | SourceError::Tls(_)
            | SourceError::Configuration(_)
            | SourceError::Unsupported(_)),
        ) => Err(ApiError::ConnectionUnhealthy(format!(
            "Connection is unhealthy: {error}"
        ))),
        Err(error) => Err(ApiError::SourceError(error.to_string())),
    }
}

/// A sampled row, as the JSON object every source renders it as.
fn into_object(row: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    match row {
        serde_json::Value::Object(fields) => Some(fields),
        _ => None,
    }
}
