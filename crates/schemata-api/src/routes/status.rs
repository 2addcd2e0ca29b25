//! `GET /api/connections/{id}/schemas/status`: what clients poll after a 202.
//! One query per request (see `schemata_store::status`).

use crate::openapi::schemas;
use crate::{
    auth::{Authorized, SchemasRead},
    envelope,
    error::ApiError,
    state::AppState,
    views,
};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use schemata_core::CacheStatus;
use schemata_store::status::{self as snapshots, ActiveRun, StatusRow};
use serde_json::{Value, json};
use uuid::Uuid;

/// The cache's status and the run in progress: what clients poll after a 202.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/status", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    responses(
        (status = 200, description = "The status.", body = schemas::StatusEnvelope),
        (status = 404, description = "No such connection in your organization.", body = schemas::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn status(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        current(&state, caller.organization_id, *id).await?,
    ))
}

/// The status document of connection `id` of `organization_id` (404 when it
/// is not theirs).
pub(crate) async fn current(
    state: &AppState,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Value, ApiError> {
    let cached = state
        .status_cache
        .get(id)
        .filter(|row| row.connection.organization_id == organization_id);
    let snapshot = match cached {
        Some(row) => row,
        None => {
            let epoch = state.status_cache.epoch();
            let row = std::sync::Arc::new(
                snapshots::snapshot(&state.pool, organization_id, id)
                    .await?
                    .ok_or_else(|| ApiError::connection_not_found(id))?,
            );
            state.status_cache.put(epoch, row.clone());
            row
        }
    };
    view(&snapshot)
}

fn view(snapshot: &StatusRow) -> Result<Value, ApiError> {
    let row = &snapshot.connection;
    let stored: CacheStatus = row
        .cache_status
        .parse()
        .map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    let cache_status = stored
        .as_seen_at(
            Utc::now(),
            row.last_refresh_finished,
            row.refresh_ttl_seconds,
        )
        .invalidated(row.stale_reason.is_some());
    // Running first: the job in progress, then a follow-up queued behind it.
    let mut active = snapshot.active.0.iter();
    let current_job = active.next().map(job);
    let next_job = active.next().map(job);
    let schema_version = row.schema_version.as_deref().map(|detected| {
        schemata_core::effective_version(detected, snapshot.overrides_digest.as_deref())
    });
    Ok(json!({
        "cache_status": cache_status.as_str(),
        "last_refresh_started": views::timestamp(row.last_refresh_started),
        "last_refresh_finished": views::timestamp(row.last_refresh_finished),
        "last_refresh_error": row.last_refresh_error,
        "schema_version": schema_version,
        "current_job": current_job,
        "next_job": next_job,
        "last_result": snapshot.last_result,
    }))
}

fn job(run: &ActiveRun) -> Value {
    json!({
        "job_id": run.id,
        "status": run.status,
        "attempt": run.attempt,
        "progress": { "objects_done": run.objects_done, "objects_total": run.objects_total },
        "queued_at": views::timestamp(Some(run.queued_at)),
        "started_at": views::timestamp(run.started_at),
        "next_attempt_at": views::timestamp(run.next_attempt_at),
        "last_error": run.error,
    })
}
