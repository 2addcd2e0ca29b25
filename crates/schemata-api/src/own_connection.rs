//! The extractor for "this organization's connection": the path's `{id}`
//! and the caller, loaded from the caller's organization only (404 for
//! anyone else's) when the handler asks.
//!
//! The extractor itself reads nothing: actix polls a handler's extractors
//! together, so one that loaded the connection could answer 404 before the
//! body extractor's 400. The handler calls [`OwnConnectionId::load`] after its
//! own checks of the query and body, so the order of checks stays 401, 403,
//! 400 (syntax), then 404.

use crate::{auth::Caller, error::ApiError, state::AppState};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures::future::{Ready, ready};
use schemata_store::connections::{self, ConnectionRow};
use serde::Deserialize;
use uuid::Uuid;

/// The path's connection id, with the caller it is loaded for.
pub(crate) struct OwnConnectionId {
    caller: Caller,
    pub id: Uuid,
}

impl OwnConnectionId {
    /// The connection, of the caller's organization, or 404.
    pub(crate) async fn load(&self, state: &AppState) -> Result<ConnectionRow, ApiError> {
        load(state, &self.caller, self.id).await
    }
}

/// Connection `id` of the caller's organization, or 404.
pub(crate) async fn load(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<ConnectionRow, ApiError> {
    connections::get(&state.pool, caller.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::connection_not_found(id))
}

#[derive(Deserialize)]
struct ConnectionPath {
    id: Uuid,
}

impl FromRequest for OwnConnectionId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        // Parsed as every `{id}` is (the path extractor's 400 and message).
        let id = web::Path::<ConnectionPath>::extract(req).into_inner();
        ready((|| {
            let caller = caller.ok_or(ApiError::Unauthorized)?;
            Ok(Self { caller, id: id?.id })
        })())
    }
}
