//! Route table and the extractor settings that turn bad input into envelopes.

mod cache;
mod connections;
mod ops;
mod pages;
mod refresh;
mod status;

use crate::error::ApiError;
use actix_web::{HttpResponse, error::JsonPayloadError, web};

/// Largest JSON body we accept.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .get(ops::healthz)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .get(ops::readyz)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections")
            .get(connections::list)
            .post(connections::create)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}")
            .get(connections::get)
            .patch(connections::update)
            .delete(connections::delete)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/test")
            .post(connections::test)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/refresh")
            .post(refresh::refresh)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/status")
            .get(status::status)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas")
            .get(cache::list)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/{schema_id}")
            .get(cache::get)
            .default_service(web::to(method_not_allowed)),
    );
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT_BYTES)
        .error_handler(|error, _| {
            match error {
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    ApiError::PayloadTooLarge(format!("Request body is larger than {limit} bytes."))
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
                    "Expected a JSON body with Content-Type: application/json.".into(),
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::BadRequest(format!("Invalid request body: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::BadRequest(format!("Malformed JSON: {e}"))
                }
                other => ApiError::BadRequest(format!("Could not read the request body: {other}")),
            }
            .into()
        })
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _| {
        ApiError::BadRequest(format!("Invalid id in path ({error}): ids are UUIDs.")).into()
    })
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| {
        ApiError::BadRequest(format!("Invalid query parameters: {error}")).into()
    })
}
