//! One error type for the HTTP boundary, rendered as the envelope of shared/API.md.

use crate::{
    dto::{ErrorBody, ErrorCode, ErrorEnvelope},
    request_context,
};
use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use schemata_core::Scope;
use schemata_store::StoreError;

/// Marks a response whose body is already our error envelope.
#[derive(Clone, Copy)]
pub(crate) struct Enveloped;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "Missing or invalid API key. Send `Authorization: Bearer <api key>` (or Basic with the key as the user name and an empty password)."
    )]
    Unauthorized,
    #[error("This API key lacks the `{0}` scope.")]
    Forbidden(Scope),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed.")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    ConnectionUnhealthy(String),
    /// Over a rate limit; retry after this many seconds.
    #[error(
        "Too many refresh requests with this API key: at most {limit} a minute. Retry in {retry_after_secs} s."
    )]
    RateLimited { limit: u32, retry_after_secs: u64 },
    /// An Idempotency-Key already used for another request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(
        "This connection's stored credentials cannot be decrypted with the service's current encryption key. \
         Send its `configuration` again (PATCH) to replace them."
    )]
    CredentialsUnreadable,
    #[error("Not ready: the database is unreachable or not migrated.")]
    NotReady,
    /// The source answered a read with an error, took too long, or sent too much.
    #[error("{0}")]
    SourceError(String),
    /// Temporarily unable to serve (our database down, no slot free): retry.
    #[error("{0}")]
    Unavailable(String),
    #[error("Internal server error.")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::ConnectionUnhealthy(_) => ErrorCode::ConnectionUnhealthy,
            Self::IdempotencyKeyReused(_) => ErrorCode::IdempotencyKeyReused,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::CredentialsUnreadable => ErrorCode::CredentialsUnreadable,
            Self::NotReady => ErrorCode::NotReady,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::SourceError(_) => ErrorCode::SourceError,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// For error responses produced outside our handlers (a safety net).
    pub(crate) fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest("Bad request.".into()),
            401 => Self::Unauthorized,
            404 => Self::NotFound("No such route.".into()),
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict("Conflict.".into()),
            413 => Self::PayloadTooLarge("Payload too large.".into()),
            415 => Self::UnsupportedMediaType("Unsupported media type.".into()),
            503 => Self::NotReady,
            _ => Self::Internal(anyhow::anyhow!("unhandled error status {status}")),
        }
    }

    pub fn connection_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("Connection not found: {id}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Decrypt => {
                tracing::warn!(
                    "stored credentials could not be decrypted: wrong or rotated SCHEMATA_ENCRYPTION_KEY?"
                );
                Self::CredentialsUnreadable
            }
            StoreError::ConnectionGone(id) => Self::connection_not_found(id),
            StoreError::StaleConfiguration(message) => Self::Conflict(format!(
                "This connection's stored configuration is no longer accepted ({message}). Send its `configuration` again (PATCH)."
            )),
            error if error.is_unavailable() => {
                tracing::warn!(error = ?error, "our database is unavailable");
                Self::Unavailable(
                    "Schemata's database is unavailable right now; retry shortly.".into(),
                )
            }
            error if error.is_bad_text() => {
                Self::BadRequest("Text values must not contain NUL characters.".into())
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::ConnectionUnhealthy(_) | Self::CredentialsUnreadable => {
                StatusCode::CONFLICT
            }
            Self::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotReady | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::SourceError(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(error) = self {
            // The whole cause chain goes to the log, never to the client.
            tracing::error!(error = ?error, "request failed");
        }
        let body = ErrorEnvelope::new(ErrorBody {
            code: self.code(),
            message: self.to_string(),
            request_id: Some(request_context::current()),
        });
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        let mut response = response.json(&body);
        response.extensions_mut().insert(Enveloped);
        response
    }
}
