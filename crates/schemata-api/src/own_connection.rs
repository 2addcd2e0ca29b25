//! The extractor for "this organization's connection": the path's `{id}`,
//! loaded from the caller's organization only (404 for anyone else's).
//!
//! Put it last among a handler's arguments, after `Authorized<Scope>` and the
//! query and body: the order of checks stays 401, 403, 400, then 404.

use crate::{auth::Caller, error::ApiError, state::AppState};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures::future::LocalBoxFuture;
use schemata_store::connections::{self, ConnectionRow};
use serde::Deserialize;
use uuid::Uuid;

/// The connection of the path's `{id}`, of the caller's organization.
pub(crate) struct OwnConnection {
    pub row: ConnectionRow,
}

impl OwnConnection {
    /// Connection `id` of the caller's organization, or 404.
    pub(crate) async fn load(
        state: &AppState,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Self, ApiError> {
        let row = connections::get(&state.pool, caller.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::connection_not_found(id))?;
        Ok(Self { row })
    }
}

#[derive(Deserialize)]
struct ConnectionPath {
    id: Uuid,
}

impl FromRequest for OwnConnection {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        // Parsed as every `{id}` is (the path extractor's 400 and message).
        let id = web::Path::<ConnectionPath>::extract(req).into_inner();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let caller = caller.ok_or(ApiError::Unauthorized)?;
            let id = id?.id;
            let state =
                state.ok_or_else(|| ApiError::from(anyhow::anyhow!("the app state is not set")))?;
            Ok(Self::load(&state, &caller, id).await?)
        })
    }
}
