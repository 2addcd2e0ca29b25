//! The OpenAPI document, generated from the handlers' annotations and the
//! types in [`schemas`], served at `/api/openapi.json` and rendered by a
//! vendored Swagger UI at `/docs` (nothing fetched at build or run time).

pub(crate) mod schemas;

use crate::routes::{
    cache, connections, fields, history, ops, records, refresh, status, ui, webhooks,
};
use actix_web::{HttpResponse, http::header, web};
use std::sync::{Arc, LazyLock};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr, Response,
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, serve};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Schemata",
        description = "An always-current cache of the schemas of your data sources, refreshed \
            asynchronously: `POST …/schemas/refresh` answers 202 with a `Location` to poll.\n\n\
            Send `Authorization: Bearer <api key>` on every `/api` route. Errors share one \
            envelope: `{\"success\": false, \"error\": {\"code\", \"message\", \"requestId\"}}`."
    ),
    paths(
        ops::healthz,
        ops::readyz,
        crate::http_metrics::metrics,
        document_json,
        docs_index,
        docs_file,
        connections::list,
        connections::create,
        connections::get,
        connections::update,
        connections::delete,
        connections::test,
        refresh::refresh,
        status::status,
        history::list,
        history::get,
        history::cancel,
        history::list_all,
        cache::list,
        cache::get,
        records::records,
        fields::upsert,
        fields::patch,
        fields::delete,
        fields::set_primary_keys,
        fields::reset_primary_keys,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::delete,
        webhooks::deliveries,
        ui::page,
        ui::asset,
    ),
    components(schemas(schemas::ErrorEnvelope)),
    modifiers(&BearerKeys, &ErrorsByDefault),
    tags(
        (name = "connections", description = "Sources Schemata reads schemas from."),
        (name = "refresh", description = "Asking for a refresh and following it."),
        (name = "schemas", description = "The cached schema, with user fields and overrides."),
        (name = "webhooks", description = "Signed notifications of runs and schema changes."),
        (name = "operations", description = "Probes, metrics and this document."),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme every `/api` operation names.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Any status an operation does not list answers the error envelope.
struct ErrorsByDefault;

impl Modify for ErrorsByDefault {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = Response::builder()
            .description("An error, in the envelope.")
            .content(
                "application/json",
                utoipa::openapi::Content::new(Some(RefOr::Ref(
                    utoipa::openapi::Ref::from_schema_name("ErrorEnvelope"),
                ))),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| RefOr::T(error.clone()));
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.",
        content_type = "application/json", body = Object)),
)]
pub(crate) async fn document_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT_JSON.as_str())
}

/// Swagger UI runs its own files only and reads only this server; its
/// rendering sets inline styles, which are all it may add. Never framed.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The document, rendered (Swagger UI).
#[utoipa::path(
    get, path = "/docs", tag = "operations",
    responses((status = 307, description = "Redirects to `/docs/index.html`.")),
)]
pub(crate) async fn docs_index() -> HttpResponse {
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, "/docs/index.html"))
        .finish()
}

/// Swagger UI's files, embedded in the binary.
#[utoipa::path(
    get, path = "/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "`index.html`, a script or a stylesheet.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/html", body = String),
        (status = 404, description = "No such file.", body = schemas::ErrorEnvelope),
    ),
)]
pub(crate) async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, crate::ApiError> {
    static CONFIG: LazyLock<Arc<Config<'static>>> =
        LazyLock::new(|| Arc::new(Config::new(["/api/openapi.json"])));
    match serve(&file, CONFIG.clone()) {
        Ok(Some(found)) => Ok(HttpResponse::Ok()
            .content_type(found.content_type)
            .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_POLICY))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(found.bytes.into_owned())),
        Ok(None) => Err(crate::ApiError::NotFound("No such file.".into())),
        Err(error) => Err(crate::ApiError::Internal(anyhow::anyhow!(
            "Swagger UI: {error}"
        ))),
    }
}
