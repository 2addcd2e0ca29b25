//! `GET /api/connections/{id}/schemas/status`: what clients poll after a 202.

use crate::{auth::Caller, envelope, error::ApiError, routes::connections, state::AppState, views};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use schemata_core::{CacheStatus, Scope};
use schemata_store::{connections::ConnectionRow, runs};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) async fn status(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::SchemasRead)?;
    let row = connections::load(&state, &caller, *id).await?;
    Ok(envelope::ok(view(&state, &row).await?))
}

/// The status document of a connection's cache.
pub(crate) async fn view(state: &AppState, row: &ConnectionRow) -> Result<Value, ApiError> {
    let stored: CacheStatus = row
        .cache_status
        .parse()
        .map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    let cache_status = stored.as_seen_at(
        Utc::now(),
        row.last_refresh_finished,
        row.refresh_ttl_seconds,
    );
    let current_job = runs::active(&state.pool, row.id).await?.map(|run| {
        json!({
            "job_id": run.id,
            "status": run.status,
            "attempt": run.attempt,
            "progress": { "objects_done": run.objects_done, "objects_total": run.objects_total },
            "queued_at": views::timestamp(Some(run.queued_at)),
            "started_at": views::timestamp(run.started_at),
        })
    });
    let last_result = match row.last_run_id {
        Some(run_id) => runs::get(&state.pool, run_id)
            .await?
            .and_then(|run| run.result),
        None => None,
    };
    Ok(json!({
        "cache_status": cache_status.as_str(),
        "last_refresh_started": views::timestamp(row.last_refresh_started),
        "last_refresh_finished": views::timestamp(row.last_refresh_finished),
        "last_refresh_error": row.last_refresh_error,
        "schema_version": row.schema_version,
        "current_job": current_job,
        "last_result": last_result,
    }))
}
