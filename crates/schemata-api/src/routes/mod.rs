//! Route table and the extractor settings that turn bad input into envelopes.

pub(crate) mod cache;
pub(crate) mod connections;
pub(crate) mod docs;
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
#[cfg(test)]
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::{RefOr, path::Paths, schema::Schema};

/// Largest JSON body we accept.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

/// One route: a method on a path pattern, its handler, and how the OpenAPI
/// document describes it (the handler's `#[utoipa::path]`). This table is the
/// one list of what the app serves; the document's paths are built from it.
pub(crate) struct Endpoint {
    pub path: &'static str,
    pub method: Method,
    route: Route,
    /// Adds the operation to the document's paths, and the schemas it names.
    pub describe: fn(&mut Paths, &mut Vec<NamedSchema>),
    /// The path and methods the annotation says, to check against the above.
    #[cfg(test)]
    pub documented: fn() -> (String, Vec<HttpMethod>),
}

/// A schema of the document's components, by name.
pub(crate) type NamedSchema = (String, RefOr<Schema>);

fn at<F, Args, Doc>(path: &'static str, method: Method, handler: F) -> Endpoint
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
    Doc: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
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
        describe: |paths, schemas| {
            let mut operation = Doc::operation();
            let tags = <Doc as utoipa::__dev::Tags>::tags();
            if !tags.is_empty() {
                operation.tags = Some(tags.into_iter().map(str::to_owned).collect());
            }
            paths.add_path_operation(Doc::path(), Doc::methods(), operation);
            <Doc as utoipa::__dev::SchemaReferences>::schemas(schemas);
        },
        #[cfg(test)]
        documented: || (Doc::path(), Doc::methods()),
    }
}

/// `route!(METHOD "path" => module::handler)`: the handler and its
/// annotation (`module::__path_handler`) together.
macro_rules! route {
    ($method:ident $path:expr => $module:ident :: $handler:ident, $doc:ident) => {
        at::<_, _, $module::$doc>($path, Method::$method, $module::$handler)
    };
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const CONNECTION: &str = "/api/connections/{id}";
    const OBJECT: &str = "/api/connections/{id}/schemas/{schema_id}";
    const FIELD: &str = "/api/connections/{id}/schemas/{schema_id}/fields/{field_id}";
    const KEYS: &str = "/api/connections/{id}/schemas/{schema_id}/primary_keys";
    const WEBHOOK: &str = "/api/webhooks/{id}";
    const RUN: &str = "/api/connections/{id}/schemas/refreshes/{job_id}";
    vec![
        route!(GET "/healthz" => ops::healthz, __path_healthz),
        route!(GET "/readyz" => ops::readyz, __path_readyz),
        route!(GET "/metrics" => ops::metrics, __path_metrics),
        route!(GET "/api/openapi.json" => docs::document_json, __path_document_json),
        route!(GET "/docs" => docs::docs_index, __path_docs_index),
        route!(GET "/docs/{file}" => docs::docs_file, __path_docs_file),
        route!(GET "/api/connections" => connections::list, __path_list),
        route!(POST "/api/connections" => connections::create, __path_create),
        route!(GET CONNECTION => connections::get, __path_get),
        route!(PATCH CONNECTION => connections::update, __path_update),
        route!(DELETE CONNECTION => connections::delete, __path_delete),
        route!(POST "/api/connections/{id}/test" => connections::test, __path_test),
        route!(POST "/api/connections/{id}/schemas/refresh" => refresh::refresh, __path_refresh),
        route!(GET "/api/connections/{id}/schemas/status" => status::status, __path_status),
        route!(GET "/api/connections/{id}/schemas/refreshes" => history::list, __path_list),
        route!(GET RUN => history::get, __path_get),
        route!(DELETE RUN => history::cancel, __path_cancel),
        route!(GET "/api/refreshes" => history::list_all, __path_list_all),
        route!(GET "/api/connections/{id}/schemas" => cache::list, __path_list),
        route!(GET OBJECT => cache::get, __path_get),
        route!(GET "/api/connections/{id}/schemas/{schema_id}/records" => records::records, __path_records),
        route!(POST "/api/connections/{id}/schemas/{schema_id}/fields" => fields::upsert, __path_upsert),
        route!(PATCH FIELD => fields::patch, __path_patch),
        route!(DELETE FIELD => fields::delete, __path_delete),
        route!(PUT KEYS => fields::set_primary_keys, __path_set_primary_keys),
        route!(DELETE KEYS => fields::reset_primary_keys, __path_reset_primary_keys),
        route!(POST "/api/webhooks" => webhooks::create, __path_create),
        route!(GET "/api/webhooks" => webhooks::list, __path_list),
        route!(GET WEBHOOK => webhooks::get, __path_get),
        route!(DELETE WEBHOOK => webhooks::delete, __path_delete),
        route!(GET "/api/webhooks/{id}/deliveries" => webhooks::deliveries, __path_deliveries),
        route!(GET "/ui" => ui::page, __path_page),
        route!(GET "/ui/{file}" => ui::asset, __path_asset),
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

    #[test]
    fn each_route_is_documented_by_its_own_handlers_annotation() {
        for endpoint in endpoints() {
            let (path, methods) = (endpoint.documented)();
            assert_eq!(path, endpoint.path, "{} {}", endpoint.method, endpoint.path);
            let documented: Vec<String> = methods
                .iter()
                .map(|m| {
                    serde_json::to_value(m)
                        .expect("a method serializes")
                        .to_string()
                })
                .collect();
            let served = format!("\"{}\"", endpoint.method.as_str().to_ascii_lowercase());
            assert!(
                documented.contains(&served),
                "{} {} is documented as {documented:?}",
                endpoint.method,
                endpoint.path
            );
        }
    }
}
