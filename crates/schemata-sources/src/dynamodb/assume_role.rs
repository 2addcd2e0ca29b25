//! DynamoDB through an assumed IAM role: STS `AssumeRole` (the Query API,
//! SigV4-signed with the deployment's own identity, `SCHEMATA_AWS_*`) with
//! the connection's external id and a role session name that names it, and
//! the temporary credentials kept for the process until five minutes before
//! they expire. The deployment's identity signs STS requests only; DynamoDB
//! sees the role's credentials.

use crate::{AccessPolicy, AwsCredentials, SourceError, error::bounded, http};
use aws_credential_types::Credentials;
use chrono::{DateTime, Utc};
use quick_xml::{Reader, events::Event};
use schemata_core::AssumedRole;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

/// How long a session lasts: the longest every role allows by default.
const SESSION_SECS: u32 = 3600;

/// An STS answer is a few KB; anything past this is not STS.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Credentials are assumed again once they have less than this left.
const RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The role credentials of this process, by where they were asked and for what.
static CACHE: LazyLock<Mutex<HashMap<CacheKey, Assumed>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    sts: String,
    identity: String,
    role_arn: String,
    external_id: String,
}

#[derive(Clone)]
struct Assumed {
    credentials: AwsCredentials,
    expires: DateTime<Utc>,
}

/// The role session name: it names the connection's external id, so the
/// role owner's CloudTrail shows which Schemata connection acted.
pub(crate) fn session_name(role: &AssumedRole) -> String {
    let name: String = format!(
        "schemata-{}",
        role.external_id.trim_start_matches("schemata-")
    )
    .chars()
    .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
    .take(64)
    .collect();
    name
}

/// STS's regional endpoint, or the operator's (`SCHEMATA_AWS_STS_ENDPOINT`).
fn sts_endpoint(policy: &AccessPolicy, region: &str) -> String {
    policy.sts_endpoint().map_or_else(
        || format!("https://sts.{region}.amazonaws.com"),
        str::to_owned,
    )
}

/// The role's credentials: cached, or assumed now.
pub(crate) async fn credentials(
    policy: &AccessPolicy,
    role: &AssumedRole,
    region: &str,
    timeout: Duration,
) -> Result<Credentials, SourceError> {
    let identity = policy.role_identity().ok_or_else(|| {
        SourceError::Configuration(
            "this server has no AWS identity to assume roles with \
             (SCHEMATA_AWS_ACCESS_KEY_ID and SCHEMATA_AWS_SECRET_ACCESS_KEY)"
                .into(),
        )
    })?;
    let sts = sts_endpoint(policy, region);
    let key = CacheKey {
        sts: sts.clone(),
        identity: identity.access_key_id.clone(),
        role_arn: role.role_arn.clone(),
        external_id: role.external_id.clone(),
    };
    let cached = CACHE.lock().expect("the cache lock").get(&key).cloned();
    let assumed = match cached {
        Some(assumed) if assumed.expires - Utc::now() > RENEW_BEFORE => assumed,
        _ => {
            let assumed = assume(policy, identity, &sts, role, region, timeout).await?;
            let mut cache = CACHE.lock().expect("the cache lock");
            cache.retain(|_, a| a.expires > Utc::now());
            cache.insert(key, assumed.clone());
            assumed
        }
    };
    Ok(Credentials::new(
        &assumed.credentials.access_key_id,
        &assumed.credentials.secret_access_key,
        assumed.credentials.session_token.clone(),
        Some(SystemTime::from(assumed.expires)),
        "schemata-assumed-role",
    ))
}

async fn assume(
    policy: &AccessPolicy,
    identity: &AwsCredentials,
    sts: &str,
    role: &AssumedRole,
    region: &str,
    timeout: Duration,
) -> Result<Assumed, SourceError> {
    let url = url::Url::parse(sts)
        .map_err(|_| SourceError::Configuration("SCHEMATA_AWS_STS_ENDPOINT is not a URL".into()))?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", &role.role_arn)
        .append_pair("RoleSessionName", &session_name(role))
        .append_pair("ExternalId", &role.external_id)
        .append_pair("DurationSeconds", &SESSION_SECS.to_string())
        .finish();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let headers = [
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", host.as_str()),
    ];
    let signed = sign_sts(identity, region, url.as_str(), &headers, &body)?;
    let http = http::timed_pinned_client(policy, &url, timeout).await?;
    let mut request = http.post(url.as_str()).body(body);
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
        request = request.header(*name, *value);
    }
    for (name, value) in &signed {
        request = request.header(name.as_str(), value.as_str());
    }
    let answer = request
        .send()
        .await
        .map_err(|error| http::send_error(error, timeout, "STS"))?;
    let status = answer.status();
    let text = String::from_utf8_lossy(&http::read_bounded(answer, MAX_ANSWER_BYTES, "STS").await?)
        .into_owned();
    let fields = xml_fields(&text);
    if status.is_success() {
        let field = |name: &str| fields.get(name).cloned().filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret_access_key), Some(expiration)) = (
            field("AccessKeyId"),
            field("SecretAccessKey"),
            field("Expiration"),
        ) else {
            tracing::info!(status = status.as_u16(), "STS answered without credentials");
            return Err(SourceError::Unreachable);
        };
        let expires = DateTime::parse_from_rfc3339(&expiration)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now() + chrono::TimeDelta::minutes(15));
        return Ok(Assumed {
            credentials: AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: field("SessionToken"),
            },
            expires,
        });
    }
    match (fields.get("Code"), fields.get("Message")) {
        // AWS's reason, as the connection's owner must see it to fix the
        // role's trust policy.
        (Some(code), message) => {
            let message = message.map_or("", String::as_str);
            let text = bounded(&format!("AssumeRole refused: {code}: {message}"));
            if status.is_server_error() || code == "Throttling" {
                Err(SourceError::Busy(text))
            } else {
                Err(SourceError::Rejected(text))
            }
        }
        (None, _) => {
            tracing::info!(
                status = status.as_u16(),
                "the STS endpoint answered, but not as STS does"
            );
            Err(SourceError::Unreachable)
        }
    }
}

fn sign_sts(
    identity: &AwsCredentials,
    region: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Vec<(String, String)>, SourceError> {
    let credentials = Credentials::new(
        &identity.access_key_id,
        &identity.secret_access_key,
        identity.session_token.clone(),
        None,
        "schemata-deployment",
    );
    super::sigv4::signed_headers(credentials, region, "sts", url, headers, body)
}

/// The text of every leaf element, by name (STS answers are flat enough:
/// `AccessKeyId`, `Expiration`, an error's `Code` and `Message`).
fn xml_fields(xml: &str) -> HashMap<String, String> {
    let mut reader = Reader::from_str(xml);
    let mut fields = HashMap::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                current = Some(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
            }
            Ok(Event::Text(text)) => {
                if let (Some(name), Ok(value)) = (&current, text.decode()) {
                    fields
                        .entry(name.clone())
                        .or_insert_with(|| value.trim().to_owned());
                }
            }
            Ok(Event::End(_)) => current = None,
            Ok(Event::Eof) | Err(_) => return fields,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_answers_and_errors_are_read() {
        let answer = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s3cret</SecretAccessKey><SessionToken>tok+en/=</SessionToken><Expiration>2026-12-02T17:09:40Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
        let fields = xml_fields(answer);
        assert_eq!(fields["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(fields["SessionToken"], "tok+en/=");
        assert_eq!(fields["Expiration"], "2026-12-02T17:09:40Z");
        let error = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/schemata is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>"#;
        let fields = xml_fields(error);
        assert_eq!(fields["Code"], "AccessDenied");
        assert!(fields["Message"].contains("sts:AssumeRole"));
    }

    #[test]
    fn the_session_name_names_the_connection_and_fits_sts() {
        let role = AssumedRole {
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            external_id: "schemata-0123456789abcdef0123456789abcdef".into(),
        };
        let name = session_name(&role);
        assert_eq!(name, "schemata-0123456789abcdef0123456789abcdef");
        assert!(name.len() <= 64);
    }
}
