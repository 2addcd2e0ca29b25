//! Bearer API keys: who is calling, for which organization, with which scopes.
//!
//! The key is checked by a middleware before any handler's extractor runs, and
//! each handler names its scope in its first argument (`Authorized<SchemasWrite>`),
//! so a bad key is a 401 and a missing scope a 403 before any 400 about the
//! path, the query or the body.

use crate::{error::ApiError, state::AppState};
use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use futures::future::{Ready, ready};
use schemata_core::Scope;
use schemata_store::api_keys;
use std::{marker::PhantomData, ops::Deref};
use uuid::Uuid;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub key_id: Uuid,
    pub organization_id: Uuid,
    scopes: Vec<Scope>,
}

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

/// A scope a route requires, as a type.
pub(crate) trait RequiredScope {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($name:ident => $scope:ident),*) => {$(
        pub(crate) struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = Scope::$scope;
        }
    )*};
}

scopes!(
    ConnectionsRead => ConnectionsRead,
    ConnectionsWrite => ConnectionsWrite,
    SchemasRead => SchemasRead,
    SchemasWrite => SchemasWrite
);

/// The caller, proven to hold scope `S`. Put it first among a handler's arguments.
pub(crate) struct Authorized<S> {
    caller: Caller,
    scope: PhantomData<S>,
}

impl<S> Deref for Authorized<S> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        ready(match caller {
            None => Err(ApiError::Unauthorized),
            Some(caller) if caller.scopes.contains(&S::SCOPE) => Ok(Self {
                caller,
                scope: PhantomData,
            }),
            Some(_) => Err(ApiError::Forbidden(S::SCOPE)),
        })
    }
}
