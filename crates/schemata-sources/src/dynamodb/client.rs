//! DynamoDB's JSON protocol over reqwest, signed with SigV4 (aws-sigv4): the
//! few calls a schema needs. The endpoint passes the access policy, and every
//! request goes to the addresses checked then; each call has a client-side
//! deadline.

use crate::{AccessPolicy, SourceError, error::bounded, http};
use aws_credential_types::Credentials;
use schemata_core::source_config::DynamoDbEndpoint;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Largest answer read from an endpoint: DynamoDB's pages stop at 1 MB; an
/// endpoint that sends more is not DynamoDB, and is not read to the end.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Tries of a call DynamoDB throttled or failed on its side, the way the AWS
/// SDKs retry, with a growing pause between them.
const TRIES: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct DynamoClient {
    config: DynamoDbEndpoint,
    url: url::Url,
    policy: AccessPolicy,
    timeout: Duration,
    http: OnceCell<reqwest::Client>,
}

impl DynamoClient {
    pub fn new(
        config: &DynamoDbEndpoint,
        policy: AccessPolicy,
        timeout: Duration,
    ) -> Result<Self, SourceError> {
        let url = url::Url::parse(&config.endpoint_url())
            .map_err(|_| SourceError::Configuration("`endpoint` is not a URL".into()))?;
        Ok(Self {
            config: config.clone(),
            url,
            policy,
            timeout,
            http: OnceCell::new(),
        })
    }

    /// A client pinned to the endpoint's checked addresses, made on first use.
    async fn http(&self) -> Result<&reqwest::Client, SourceError> {
        self.http
            .get_or_try_init(|| http::timed_pinned_client(&self.policy, &self.url, self.timeout))
            .await
    }

    /// Calls `DynamoDB_20120810.<operation>` with `body`, trying again after a
    /// throttle or a server-side error; DynamoDB's own errors come back as
    /// `Rejected` (credentials), `Busy` (still throttled) or `Query`.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, SourceError> {
        let mut pause = FIRST_PAUSE;
        for _ in 1..TRIES {
            match self.call_once(operation, body).await {
                Err(SourceError::Busy(_)) => {
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                }
                other => return other,
            }
        }
        self.call_once(operation, body).await
    }

    async fn call_once(&self, operation: &str, body: &Value) -> Result<Value, SourceError> {
        // No credentials, no request: not even a name resolved.
        let credentials = self.credentials().await?;
        let http = self.http().await?;
        let body = body.to_string();
        let target = format!("DynamoDB_20120810.{operation}");
        let host = self.url.host_str().unwrap_or_default().to_owned();
        let host = match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("x-amz-target", target.as_str()),
            ("host", host.as_str()),
        ];
        let signed = self.sign(credentials, &headers, &body)?;
        let mut request = http.post(self.url.as_str()).body(body);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let answer = request
            .send()
            .await
            .map_err(|error| http::send_error(error, self.timeout, "dynamodb"))?;
        let status = answer.status();
        let bytes = http::read_bounded(answer, MAX_ANSWER_BYTES, "the endpoint").await?;
        // Anything but DynamoDB's JSON, or an error without DynamoDB's
        // `__type`, is some other server: "unreachable", as a closed port
        // is, and nothing of what it said goes back (the endpoint is the
        // tenant's to choose, the server may be anyone's).
        let not_dynamodb = || {
            tracing::info!(
                status = status.as_u16(),
                "the endpoint answered, but not as DynamoDB does"
            );
            SourceError::Unreachable
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| not_dynamodb())?;
        if status.is_success() {
            Ok(value)
        } else if value["__type"].is_string() {
            Err(error_of(&value, status.as_u16()))
        } else {
            Err(not_dynamodb())
        }
    }

    /// The connection's own keys, its role's (assumed with STS), or the
    /// server's when it asks for them and the operator lends them.
    async fn credentials(&self) -> Result<Credentials, SourceError> {
        if let Some(role) = &self.config.role {
            return super::assume_role::credentials(
                &self.policy,
                role,
                &self.config.region,
                self.timeout,
            )
            .await;
        }
        if !self.config.environment_credentials {
            return Ok(Credentials::new(
                &self.config.access_key_id,
                &self.config.secret_access_key,
                self.config.session_token.clone(),
                None,
                "schemata-connection",
            ));
        }
        let lent = self.policy.aws_credentials().ok_or_else(|| {
            SourceError::Configuration(
                "this server does not lend its own AWS credentials \
                 (SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS is off): give the connection keys"
                    .into(),
            )
        })?;
        Ok(Credentials::new(
            &lent.access_key_id,
            &lent.secret_access_key,
            lent.session_token.clone(),
            None,
            "schemata-environment",
        ))
    }

    fn sign(
        &self,
        credentials: Credentials,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Vec<(String, String)>, SourceError> {
        super::sigv4::signed_headers(
            credentials,
            &self.config.region,
            "dynamodb",
            self.url.as_str(),
            headers,
            body,
        )
    }
}

/// DynamoDB's error: `{"__type": "…#AccessDeniedException", "message": "…"}`.
fn error_of(body: &Value, status: u16) -> SourceError {
    let kind = body["__type"]
        .as_str()
        .and_then(|t| t.rsplit('#').next())
        .unwrap_or("Error");
    let message = body["message"]
        .as_str()
        .or(body["Message"].as_str())
        .unwrap_or("");
    let text = bounded(&format!("{kind}: {message}"));
    match kind {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException" => SourceError::Rejected(text),
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "LimitExceededException"
        | "InternalServerError"
        | "ServiceUnavailable" => SourceError::Busy(text),
        _ if status >= 500 => SourceError::Busy(text),
        _ => SourceError::Query(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AwsCredentials, PolicySettings};
    use schemata_core::{SourceConfig, SourceKind};
    use serde_json::json;

    async fn client(lend: bool) -> DynamoClient {
        let settings = PolicySettings {
            aws_credentials: lend.then(|| AwsCredentials {
                access_key_id: "AKIAOPERATOR".into(),
                secret_access_key: "operator".into(),
                session_token: None,
            }),
            ..Default::default()
        };
        let policy = AccessPolicy::build(&settings, "postgres://u@127.0.0.1:5432/schemata")
            .await
            .unwrap();
        let config = SourceConfig::parse(
            SourceKind::Dynamodb,
            &json!({"region": "eu-west-1", "credentials": "environment"}),
        )
        .unwrap();
        let SourceConfig::DynamoDb(config) = config else {
            unreachable!()
        };
        DynamoClient::new(&config, policy, Duration::from_secs(1)).unwrap()
    }

    #[tokio::test]
    async fn the_servers_keys_sign_only_when_lent() {
        assert!(matches!(
            client(false).await.credentials().await,
            Err(SourceError::Configuration(_))
        ));
        let lent = client(true).await.credentials().await.unwrap();
        assert_eq!(lent.access_key_id(), "AKIAOPERATOR");
        let signed = client(true)
            .await
            .sign(lent, &[("host", "dynamodb.eu-west-1.amazonaws.com")], "{}")
            .unwrap();
        let authorization = signed
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert!(
            authorization.contains("Credential=AKIAOPERATOR/"),
            "{authorization}"
        );
        assert!(authorization.contains("/eu-west-1/dynamodb/aws4_request"));
    }
}
