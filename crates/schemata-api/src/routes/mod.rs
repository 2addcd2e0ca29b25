//! Route table and the extractor settings that turn bad input into envelopes.

mod cache;
mod connections;
mod fields;
mod history;
mod ops;
mod pages;
mod records;
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
        web::resource("/metrics")
            .get(crate::http_metrics::metrics)
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
        web::resource("/api/connections/{id}/schemas/refreshes")
            .get(history::list)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/refreshes/{job_id}")
            .get(history::get)
            .delete(history::cancel)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/refreshes")
            .get(history::list_all)
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
    )
    .service(
        web::resource("/api/connections/{id}/schemas/{schema_id}/records")
            .get(records::records)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/{schema_id}/fields")
            .post(fields::upsert)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/{schema_id}/fields/{field_id}")
            .patch(fields::patch)
            .delete(fields::delete)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/connections/{id}/schemas/{schema_id}/primary_keys")
            .put(fields::set_primary_keys)
            .delete(fields::reset_primary_keys)
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
                    ApiError::BadRequest(format!("Invalid request body: {}", without_values(&e)))
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

/// serde's message for a body that does not fit, without the value it quotes
/// (a misplaced secret must not come back in an error).
pub(crate) fn without_values(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let quotes_a_value = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|p| message.starts_with(p));
    if !quotes_a_value {
        return message;
    }
    let expected = message
        .split_once(", expected ")
        .map(|(_, rest)| rest.split(" at line ").next().unwrap_or(rest))
        .unwrap_or("another value");
    format!(
        "a value does not fit here: expected {expected} (at line {}, column {})",
        error.line(),
        error.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_never_quote_the_value() {
        let error = serde_json::from_str::<std::collections::HashMap<String, i32>>(
            r#"{"refresh_ttl_seconds": "SecretLeak-66"}"#,
        )
        .unwrap_err();
        let message = without_values(&error);
        assert!(!message.contains("SecretLeak"), "{message}");
        assert!(message.contains("expected i32"), "{message}");
    }
}
