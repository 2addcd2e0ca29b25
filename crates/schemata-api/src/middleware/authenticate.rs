//! Resolves the API key of every `/api` request into the [`Caller`] the
//! handlers' extractors read, or answers 401 before any handler runs.

use crate::{auth::Caller, error::ApiError, state::AppState};
use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use schemata_store::api_keys;

/// Resolves the API key of every `/api` request into a [`Caller`], or answers 401.
pub(crate) async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Decoded as the router will see it: `/%61pi/…` is an `/api` path too.
    let path = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
    // The OpenAPI document is public, like the page that renders it.
    let public = !path.starts_with("/api/") && path != "/api" || path == "/api/openapi.json";
    if public {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| t.starts_with(api_keys::KEY_PREFIX));
    let caller = match (token, req.app_data::<web::Data<AppState>>()) {
        (Some(token), Some(state)) => match state.key_cache.get(&token) {
            Some(key) => Ok(key),
            None => api_keys::authenticate(&state.pool, &token)
                .await
                .map_err(ApiError::from)
                .and_then(|key| key.ok_or(ApiError::Unauthorized))
                .inspect(|key| state.key_cache.put(&token, key)),
        },
        _ => Err(ApiError::Unauthorized),
    };
    match caller {
        Ok(key) => {
            req.extensions_mut().insert(Caller {
                key_id: key.id,
                organization_id: key.organization_id,
                scopes: key.scopes,
            });
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(error) => Ok(req.into_response(error.error_response())),
    }
}
