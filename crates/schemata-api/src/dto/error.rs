//! Every error: `{"success": false, "error": {"code", "message", "requestId"}}`.

use serde::Serialize;
use utoipa::ToSchema;

/// Every error: `{"success": false, "error": {"code", "message", "requestId"}}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "success": false,
    "error": {
        "code": "not_found",
        "message": "Connection not found: 0192f7c4-5f0e-7d3c-9a63-3f1c2b7e8a10",
        "requestId": "01JD3K9W7Q4V8T2M6X5B1N0C9R"
    }
}))]
pub(crate) struct ErrorEnvelope {
    success: bool,
    error: ErrorBody,
}

impl ErrorEnvelope {
    pub(crate) fn new(error: ErrorBody) -> Self {
        Self {
            success: false,
            error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorBody {
    pub code: ErrorCode,
    /// For people: what went wrong and what to do. Never quotes a secret.
    pub message: String,
    /// Also sent as `X-Request-Id`; quote it when asking for help.
    #[serde(rename = "requestId")]
    pub request_id: Option<String>,
}

/// Stable, machine-readable: what a client branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    ConnectionUnhealthy,
    IdempotencyKeyReused,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    #[expect(
        dead_code,
        reason = "written by the patched actix-http's own envelope (vendor/README.md)"
    )]
    RequestHeaderFieldsTooLarge,
    CredentialsUnreadable,
    NotReady,
    Unavailable,
    SourceError,
    Internal,
}
