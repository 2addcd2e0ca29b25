//! SigV4 signatures (aws-sigv4) for the AWS calls a DynamoDB source makes:
//! DynamoDB's JSON API and STS `AssumeRole`, each a POST with a body.

use crate::SourceError;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

/// The headers that sign a POST of `body` to `url` for `service` in `region`.
pub(crate) fn signed_headers(
    credentials: Credentials,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Vec<(String, String)>, SourceError> {
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SourceError::Configuration(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| SourceError::Configuration(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| SourceError::Configuration(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect())
}
