//! Liveness and readiness for orchestrators: no auth, no `/api` prefix.

use crate::{error::ApiError, state::AppState};
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Liveness: the process serves HTTP (no database needed).
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Alive.", body = crate::openapi::schemas::ProbeEnvelope),
    ),
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "data": { "status": "ok" } }))
}

/// Ready when our database answers and has every migration this build expects.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = crate::openapi::schemas::ProbeEnvelope),
        (status = 503, description = "`not_ready`: the database is unreachable or not migrated.", body = crate::openapi::schemas::ErrorEnvelope),
    ),
)]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    schemata_store::check_ready(&state.pool)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "not ready");
            ApiError::NotReady
        })?;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "data": { "status": "ready" } })))
}
