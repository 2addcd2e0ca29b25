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
use base64::{Engine, engine::general_purpose::STANDARD};
use schemata_store::api_keys;

/// The API key an `Authorization` header carries: `Bearer <key>`, or
/// `Basic` with the key as the user name and an empty password (how
/// Polytomic's clients send organization keys: `curl -u "$KEY:"`). Anything
/// else carries none.
fn api_key_of(header: &str) -> Option<String> {
    let (scheme, credentials) = header.split_once(' ')?;
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(credentials.trim()).ok()?;
        let pair = String::from_utf8(decoded).ok()?;
        match pair.split_once(':') {
            Some((user, "")) => user.to_owned(),
            _ => return None,
        }
    } else {
        return None;
    };
    key.starts_with(api_keys::KEY_PREFIX).then_some(key)
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
        .and_then(api_key_of);
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

#[cfg(test)]
mod tests {
    use super::api_key_of;
    use base64::{Engine, engine::general_purpose::STANDARD};

    #[test]
    fn a_key_comes_as_bearer_or_as_the_basic_user_with_an_empty_password() {
        let key = format!("{}abc123", schemata_store::api_keys::KEY_PREFIX);
        let basic = |pair: &str| format!("Basic {}", STANDARD.encode(pair));
        assert_eq!(api_key_of(&format!("Bearer {key}")), Some(key.clone()));
        assert_eq!(api_key_of(&format!("bearer  {key} ")), Some(key.clone()));
        assert_eq!(api_key_of(&basic(&format!("{key}:"))), Some(key.clone()));
        assert_eq!(
            api_key_of(&basic(&format!("{key}:")).replace("Basic", "basic")),
            Some(key.clone())
        );
        for refused in [
            basic(&format!("{key}:password")),
            basic(&key),
            basic(&format!(":{key}")),
            basic("someone:"),
            "Basic !!!not-base64".to_owned(),
            format!("Token {key}"),
            key.clone(),
            "Bearer not-a-key".to_owned(),
        ] {
            assert_eq!(api_key_of(&refused), None, "{refused}");
        }
    }
}
