//! Text PostgreSQL cannot store never reaches a handler: a NUL character anywhere
//! in the path or the query string (percent-encoded or not) is a 400, not a 500.
//! JSON bodies are checked by the parsers of the values they carry.

use crate::error::ApiError;
use actix_web::{
    Error, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use percent_encoding::percent_decode_str;

pub(crate) async fn reject_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let uri = req.uri();
    let has_nul = [uri.path(), uri.query().unwrap_or_default()]
        .into_iter()
        .any(|part| percent_decode_str(part).any(|byte| byte == 0));
    if has_nul {
        let error = ApiError::BadRequest(
            "The request path and query must not contain NUL characters.".into(),
        );
        return Ok(req.into_response(error.error_response()));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
