//! The OpenAPI document at `/api/openapi.json`, and a vendored Swagger UI
//! rendering it at `/docs` (nothing fetched at build or run time).

use crate::{dto, state::AppState};
use actix_web::{HttpResponse, http::header, web};
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::{Config, serve};

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.",
        content_type = "application/json", body = Object)),
)]
pub(crate) async fn document_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
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
        (status = 404, description = "No such file.", body = dto::ErrorEnvelope),
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
