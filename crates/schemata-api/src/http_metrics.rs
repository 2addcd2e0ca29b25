//! Request metrics, by route pattern (never by raw path: ids would make every
//! request a series of its own), method and status.

use actix_web::{HttpResponse, web};
use std::time::Duration;

/// Records one served request.
pub(crate) fn observe(method: &str, route: Option<String>, status: u16, elapsed: Duration) {
    let route = route.unwrap_or_else(|| "unmatched".into());
    metrics::counter!(
        "schemata_http_requests_total",
        "method" => method.to_owned(), "route" => route.clone(), "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "schemata_http_request_duration_seconds",
        "method" => method.to_owned(), "route" => route
    )
    .record(elapsed.as_secs_f64());
}

/// `GET /metrics`: Prometheus text. The refresh queue's depth is read from
/// the database at scrape time (skipped, not failed, while it is away).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition (see docs/operations.md).", content_type = "text/plain", body = String),
    ),
)]
pub(crate) async fn metrics(state: web::Data<crate::state::AppState>) -> HttpResponse {
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
