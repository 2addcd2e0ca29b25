//! Bearer API keys: who is calling, for which organization, with which scopes.

use crate::{error::ApiError, state::AppState};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures::future::LocalBoxFuture;
use schemata_core::Scope;
use schemata_store::api_keys;
use uuid::Uuid;

/// An authenticated caller. Handlers call [`Caller::require`] before anything else.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub key_id: Uuid,
    pub organization_id: Uuid,
    scopes: Vec<Scope>,
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let state = state
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
            let token = token
                .filter(|t| t.starts_with(api_keys::KEY_PREFIX))
                .ok_or(ApiError::Unauthorized)?;
            let key = api_keys::authenticate(&state.pool, &token)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Ok(Caller {
                key_id: key.id,
                organization_id: key.organization_id,
                scopes: key.scopes,
            })
        })
    }
}
