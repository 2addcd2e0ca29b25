//! Liveness, readiness and metrics for orchestrators: no auth, no `/api` prefix.

use crate::{
    dto::{self, Body},
    error::ApiError,
    state::AppState,
};
use actix_web::{HttpResponse, web};
use std::time::Duration;

/// Liveness: the process serves HTTP (no database needed).
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Alive.", body = dto::ProbeEnvelope),
    ),
)]
pub(crate) async fn healthz() -> HttpResponse {
    dto::ProbeEnvelope::new(dto::ProbeState { status: "ok" }).ok()
}

/// Ready when our database answers and has every migration this build expects.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = dto::ProbeEnvelope),
        (status = 503, description = "`not_ready`: the database is unreachable or not migrated.", body = dto::ErrorEnvelope),
    ),
)]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    schemata_store::check_ready(&state.pool)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "not ready");
            ApiError::NotReady
        })?;
    Ok(dto::ProbeEnvelope::new(dto::ProbeState { status: "ready" }).ok())
}

/// `GET /metrics`: Prometheus text. The refresh queue's depth is read from
/// the database at scrape time (skipped, not failed, while it is away).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition (see docs/operations.md).", content_type = "text/plain", body = String),
    ),
)]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let depth = tokio::time::timeout(
        Duration::from_secs(1),
        schemata_store::history::active_counts(&state.pool, None),
    )
    .await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(schemata_telemetry::metrics::render_with_queue_depth(
            depth.ok().and_then(Result::ok),
        ))
}
