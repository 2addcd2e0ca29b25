//! `Idempotency-Key` on requests that create things (a connection, a refresh):
//! a client that retries after a lost answer gets the first answer again
//! instead of a second connection or a second run.

use crate::{error::ApiError, state::AppState};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, http::header, web};
use schemata_store::idempotency::{self, Claim, StoredAnswer};
use serde_json::Value;
use uuid::Uuid;

const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// What a handler answers, before it becomes a response (so it can be kept).
pub(crate) struct Answer {
    pub status: StatusCode,
    /// The whole envelope.
    pub body: Value,
    pub location: Option<String>,
}

impl Answer {
    /// `body` (a whole envelope), answered with `status`.
    pub fn of(status: StatusCode, body: &impl serde::Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_value(body).expect("a response body always serializes"),
            location: None,
        }
    }

    pub fn into_response(self, replayed: bool) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = &self.location {
            response.insert_header((header::LOCATION, location.as_str()));
        }
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.json(self.body)
    }
}

/// Runs `handle` once per `Idempotency-Key` (when the request carries one):
/// the same key and request within 24 h get the first successful answer, the
/// same key with another request a 422. Failed answers are not kept.
///
/// Under a key, `handle` runs on a task of its own that records the answer
/// even if the client goes away meanwhile: a lost answer is exactly what a
/// retry with the same key is for.
pub(crate) async fn once(
    state: web::Data<AppState>,
    organization_id: Uuid,
    request: &HttpRequest,
    body: &[u8],
    handle: impl Future<Output = Result<Answer, ApiError>> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let Some(key) = key_of(request)? else {
        return handle.await.map(|answer| answer.into_response(false));
    };
    let hash = request_hash(&state, request, body);
    match idempotency::claim(&state.pool, organization_id, &key, &hash).await? {
        Claim::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            return Ok(Answer {
                status,
                body: stored.body,
                location: stored.location,
            }
            .into_response(true));
        }
        Claim::Mismatch => {
            return Err(ApiError::IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request in the last 24 hours; use a new key."
                    .into(),
            ));
        }
        Claim::InFlight => {
            return Err(ApiError::Conflict(
                "A request with this Idempotency-Key is still being answered; retry shortly."
                    .into(),
            ));
        }
        Claim::Fresh => {}
    }
    let answering = tokio::spawn(async move {
        let answer = handle.await;
        let recorded = match &answer {
            Ok(answer) if answer.status.is_success() => {
                let stored = StoredAnswer {
                    status: answer.status.as_u16(),
                    body: answer.body.clone(),
                    location: answer.location.clone(),
                };
                idempotency::complete(&state.pool, organization_id, &key, &stored).await
            }
            _ => idempotency::release(&state.pool, organization_id, &key).await,
        };
        if let Err(error) = recorded {
            // The request took effect; its key stays claimed and is retried
            // after the abandoned-claim delay.
            tracing::error!(error = ?error, "could not record an idempotent answer");
        }
        answer
    });
    let answer = answering
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the request's task failed: {e}")))?;
    answer.map(|answer| answer.into_response(false))
}

fn key_of(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good choice)."
            ))
        })?;
    Ok(Some(key.to_owned()))
}

/// The request a key stands for: method, path, query and body. Keyed, since
/// a body may carry a password.
fn request_hash(state: &AppState, request: &HttpRequest, body: &[u8]) -> String {
    let mut framed = Vec::with_capacity(body.len() + 256);
    for part in [
        request.method().as_str().as_bytes(),
        request.path().as_bytes(),
        request.query_string().as_bytes(),
        body,
    ] {
        framed.extend_from_slice(&(part.len() as u64).to_be_bytes());
        framed.extend_from_slice(part);
    }
    state.secrets.fingerprint(&framed)
}
