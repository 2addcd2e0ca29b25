//! `X-Request-Id` on every response, echoed when the client sent a sane one, and
//! available to error envelopes (see `request_context`) while the request is
//! served; any error response without our envelope gets one.

use crate::{
    error::{ApiError, Enveloped},
    request_context,
};
use actix_web::{
    Error, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use std::time::Instant;
use uuid::Uuid;

pub(crate) const HEADER: &str = "x-request-id";

fn accepted(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accepted(v))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let outcome = request_context::scope(id.clone(), next.call(req)).await;
    let mut response = request_context::scope(id.clone(), async move {
        match outcome {
            Ok(response) => ensure_envelope(response.map_into_boxed_body()),
            Err(error) => Err(error),
        }
    })
    .await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    crate::http_metrics::observe(
        method.as_str(),
        response.request().match_pattern(),
        response.status().as_u16(),
        started.elapsed(),
    );
    tracing::info!(
        http.method = %method, http.path = %path, http.status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64, request.id = %id, "request served"
    );
    Ok(response)
}

/// Any error response that did not come from [`ApiError`] gets the envelope anyway.
fn ensure_envelope(response: ServiceResponse<BoxBody>) -> Result<ServiceResponse<BoxBody>, Error> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response
            .response()
            .extensions()
            .get::<Enveloped>()
            .is_some()
    {
        return Ok(response);
    }
    let replacement = ApiError::from_status(status).error_response();
    Ok(response.into_response(replacement))
}
