//! `GET /api/connections/{id}/schemas/status`: what clients poll after a 202.

use crate::{
    auth::{Authorized, SchemasRead},
    envelope,
    error::ApiError,
    routes::{cache, connections},
    state::AppState,
    views,
};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use schemata_core::CacheStatus;
use schemata_store::{
    connections::ConnectionRow,
    runs::{self, RunRow},
};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) async fn status(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
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
    // Running first: the job in progress, then a follow-up queued behind it.
    let mut active = runs::active(&state.pool, row.id).await?.into_iter();
    let current_job = active.next().map(|run| job(&run));
    let next_job = active.next().map(|run| job(&run));
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
        "schema_version": cache::effective_version(state, row).await?,
        "current_job": current_job,
        "next_job": next_job,
        "last_result": last_result,
    }))
}

fn job(run: &RunRow) -> Value {
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
