//! Success envelopes: `{"success": true, "data": …}` and lists with a cursor.

use actix_web::{HttpResponse, http::StatusCode};
use serde::Serialize;
use serde_json::json;

pub(crate) fn ok(data: impl Serialize) -> HttpResponse {
    with_status(StatusCode::OK, data)
}

pub(crate) fn with_status(status: StatusCode, data: impl Serialize) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "success": true, "data": data }))
}

pub(crate) fn list(data: impl Serialize, next_cursor: Option<String>) -> HttpResponse {
    HttpResponse::Ok().json(
        json!({ "success": true, "data": data, "pagination": { "next_cursor": next_cursor } }),
    )
}
