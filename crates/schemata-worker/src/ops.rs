//! `/healthz` and `/readyz` on the worker's own port, for orchestrators.

use actix_web::{App, HttpResponse, HttpServer, Route, dev::Server, guard, web};
use schemata_store::PgPool;
use serde_json::json;
use std::net::TcpListener;

pub(crate) fn serve(listener: TcpListener, pool: PgPool) -> std::io::Result<Server> {
    let pool = web::Data::new(pool);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .route(
                "/healthz",
                get_or_head().to(|| async {
                    HttpResponse::Ok().json(json!({"success": true, "data": {"status": "ok"}}))
                }),
            )
            .route("/readyz", get_or_head().to(readyz))
            .route("/metrics", get_or_head().to(metrics))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// GET, and HEAD as GET without a body: load balancers probe with HEAD.
fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Anything but the two probes: the API's error envelope, with a request id.
async fn not_found() -> HttpResponse {
    let request_id = uuid::Uuid::now_v7().to_string();
    HttpResponse::NotFound()
        .insert_header(("x-request-id", request_id.as_str()))
        .json(json!({
            "success": false,
            "error": {
                "message": "No such route: the worker serves GET /healthz, GET /readyz and GET /metrics.",
                "code": "not_found",
                "requestId": request_id,
            },
        }))
}

/// Prometheus text: this worker's refresh metrics, and the queue's depth read
/// at scrape time (skipped while the database is away).
async fn metrics(pool: web::Data<PgPool>) -> HttpResponse {
    let depth = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        schemata_store::history::active_counts(&pool, None),
    )
    .await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(schemata_telemetry::metrics::render_with_queue_depth(
            depth.ok().and_then(Result::ok),
        ))
}

async fn readyz(pool: web::Data<PgPool>) -> HttpResponse {
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut response = match schemata_store::check_ready(&pool).await {
        Ok(()) => HttpResponse::Ok().json(json!({"success": true, "data": {"status": "ready"}})),
        Err(error) => {
            tracing::warn!(error = %error, "not ready");
            HttpResponse::ServiceUnavailable().json(json!({
                "success": false,
                "error": {
                    "message": "Not ready: the database is unreachable or not migrated.",
                    "code": "not_ready",
                    "requestId": request_id,
                },
            }))
        }
    };
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    response
}
