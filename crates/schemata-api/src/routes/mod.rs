//! Route table and the extractor settings that turn bad input into envelopes.

pub(crate) mod cache;
pub(crate) mod connections;
pub(crate) mod fields;
pub(crate) mod history;
pub(crate) mod ops;
pub(crate) mod pages;
pub(crate) mod records;
pub(crate) mod refresh;
pub(crate) mod status;
pub(crate) mod ui;
pub(crate) mod webhooks;

use crate::error::ApiError;
use actix_web::{
    FromRequest, Handler, HttpResponse, Resource, Responder, Route, error::JsonPayloadError, guard,
    http::Method, web,
};

/// Largest JSON body we accept.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

/// One route: a method on a path pattern. The table below is the one list of
/// what the app serves; the OpenAPI test checks the document against it.
pub(crate) struct Endpoint {
    pub path: &'static str,
    pub method: Method,
    route: Route,
}

fn at<F, Args>(path: &'static str, method: Method, handler: F) -> Endpoint
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    // A GET route answers HEAD too, as GET without a body (load balancers
    // probe with HEAD; actix sends a HEAD answer's headers only).
    let route = if method == Method::GET {
        web::route()
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(handler)
    } else {
        web::method(method.clone()).to(handler)
    };
    Endpoint {
        path,
        method,
        route,
    }
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    use crate::{http_metrics, openapi};
    const CONNECTION: &str = "/api/connections/{id}";
    const OBJECT: &str = "/api/connections/{id}/schemas/{schema_id}";
    const FIELD: &str = "/api/connections/{id}/schemas/{schema_id}/fields/{field_id}";
    const KEYS: &str = "/api/connections/{id}/schemas/{schema_id}/primary_keys";
    const WEBHOOK: &str = "/api/webhooks/{id}";
    const RUN: &str = "/api/connections/{id}/schemas/refreshes/{job_id}";
    vec![
        at("/healthz", Method::GET, ops::healthz),
        at("/readyz", Method::GET, ops::readyz),
        at("/metrics", Method::GET, http_metrics::metrics),
        at("/api/openapi.json", Method::GET, openapi::document_json),
        at("/docs", Method::GET, openapi::docs_index),
        at("/docs/{file}", Method::GET, openapi::docs_file),
        at("/api/connections", Method::GET, connections::list),
        at("/api/connections", Method::POST, connections::create),
        at(CONNECTION, Method::GET, connections::get),
        at(CONNECTION, Method::PATCH, connections::update),
        at(CONNECTION, Method::DELETE, connections::delete),
        at(
            "/api/connections/{id}/test",
            Method::POST,
            connections::test,
        ),
        at(
            "/api/connections/{id}/schemas/refresh",
            Method::POST,
            refresh::refresh,
        ),
        at(
            "/api/connections/{id}/schemas/status",
            Method::GET,
            status::status,
        ),
        at(
            "/api/connections/{id}/schemas/refreshes",
            Method::GET,
            history::list,
        ),
        at(RUN, Method::GET, history::get),
        at(RUN, Method::DELETE, history::cancel),
        at("/api/refreshes", Method::GET, history::list_all),
        at("/api/connections/{id}/schemas", Method::GET, cache::list),
        at(OBJECT, Method::GET, cache::get),
        at(
            "/api/connections/{id}/schemas/{schema_id}/records",
            Method::GET,
            records::records,
        ),
        at(
            "/api/connections/{id}/schemas/{schema_id}/fields",
            Method::POST,
            fields::upsert,
        ),
        at(FIELD, Method::PATCH, fields::patch),
        at(FIELD, Method::DELETE, fields::delete),
        at(KEYS, Method::PUT, fields::set_primary_keys),
        at(KEYS, Method::DELETE, fields::reset_primary_keys),
        at("/api/webhooks", Method::POST, webhooks::create),
        at("/api/webhooks", Method::GET, webhooks::list),
        at(WEBHOOK, Method::GET, webhooks::get),
        at(WEBHOOK, Method::DELETE, webhooks::delete),
        at(
            "/api/webhooks/{id}/deliveries",
            Method::GET,
            webhooks::deliveries,
        ),
        at("/ui", Method::GET, ui::page),
        at("/ui/{file}", Method::GET, ui::asset),
    ]
}

/// Every (path pattern, method) the app serves.
pub fn served() -> Vec<(String, String)> {
    endpoints()
        .into_iter()
        .map(|e| (e.path.to_owned(), e.method.to_string()))
        .collect()
}

/// Groups the table by path: one resource each, 405 for other methods.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for endpoint in endpoints() {
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, routes)) => routes.push(endpoint.route),
            None => by_path.push((endpoint.path, vec![endpoint.route])),
        }
    }
    for (path, routes) in by_path {
        let resource = routes
            .into_iter()
            .fold(web::resource(path), Resource::route);
        cfg.service(resource.default_service(web::to(method_not_allowed)));
    }
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
