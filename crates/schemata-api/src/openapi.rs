//! The OpenAPI document: its paths come from the one route table
//! (`routes::endpoints`), each with the operation its handler's annotation
//! describes, and its schemas from the `dto` types those name.

use crate::{dto, routes};
use std::sync::LazyLock;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr, Response,
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Schemata",
        description = "An always-current cache of the schemas of your data sources, refreshed \
            asynchronously: `POST …/schemas/refresh` answers 202 with a `Location` to poll.\n\n\
            Send `Authorization: Bearer <api key>` (or `Basic` with the key as the user name and an \
            empty password) on every `/api` route. Errors share one \
            envelope: `{\"success\": false, \"error\": {\"code\", \"message\", \"requestId\"}}`."
    ),
    components(schemas(dto::ErrorEnvelope)),
    modifiers(&RouteTable, &BearerKeys, &ErrorsByDefault),
    tags(
        (name = "connections", description = "Sources Schemata reads schemas from."),
        (name = "refresh", description = "Asking for a refresh and following it."),
        (name = "schemas", description = "The cached schema, with user fields and overrides."),
        (name = "webhooks", description = "Signed notifications of runs and schema changes."),
        (name = "operations", description = "Probes, metrics and this document."),
    )
)]
struct ApiDoc;

/// Every route the app serves, with the schemas its operation names.
struct RouteTable;

impl Modify for RouteTable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut schemas = Vec::new();
        for endpoint in routes::endpoints() {
            (endpoint.describe)(&mut openapi.paths, &mut schemas);
        }
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
    }
}

/// The `bearer` security scheme every `/api` operation names, and `basic`
/// (the key as the user name, an empty password) as its alternative.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(security) = &mut operation.security
                    && !security.is_empty()
                {
                    security.push(utoipa::openapi::security::SecurityRequirement::new(
                        "basic",
                        Vec::<String>::new(),
                    ));
                }
            }
        }
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

/// The document as the JSON `/api/openapi.json` serves.
pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}
