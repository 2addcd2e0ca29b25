//! Liveness and readiness for orchestrators: no auth, no `/api` prefix.

use crate::{error::ApiError, state::AppState};
use actix_web::{HttpResponse, web};
use serde_json::json;

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "data": { "status": "ok" } }))
}

/// Ready when our database answers and has every migration this build expects.
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    schemata_store::check_ready(&state.pool)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "not ready");
            ApiError::NotReady
        })?;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "data": { "status": "ready" } })))
}
