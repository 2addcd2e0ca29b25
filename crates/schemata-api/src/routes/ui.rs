//! The operator page at `/ui`: three static files compiled into the binary. It
//! talks to the public API only, with a key the operator pastes; a strict
//! Content-Security-Policy keeps anything but these files from running there.

use crate::error::ApiError;
use actix_web::{HttpResponse, http::header, web};

const INDEX: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/style.css");

/// Only our own files, no inline script, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn file(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The operator page.
#[utoipa::path(
    get, path = "/ui", tag = "operations",
    responses((status = 200, description = "The operator page (HTML).", content_type = "text/html", body = String)),
)]
pub(crate) async fn page() -> HttpResponse {
    file("text/html; charset=utf-8", INDEX)
}

/// The operator page's script and stylesheet.
#[utoipa::path(
    get, path = "/ui/{file}", tag = "operations",
    params(("file" = String, Path, description = "`app.js` or `style.css`.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file.", body = crate::dto::ErrorEnvelope),
    ),
)]
pub(crate) async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match name.as_str() {
        "app.js" => Ok(file("text/javascript; charset=utf-8", SCRIPT)),
        "style.css" => Ok(file("text/css; charset=utf-8", STYLE)),
        _ => Err(ApiError::NotFound("No such file.".into())),
    }
}
