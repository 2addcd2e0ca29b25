//! A DynamoDB source: a region, static credentials (the secret key and the
//! session token are secrets, shown as `********`), an optional endpoint (local
//! emulators, VPC endpoints; it passes the access policy like any host) and an
//! optional table-name prefix.

use super::{REDACTED, SourceConfigError, invalid, plain_text};
use serde_json::{Map, Value, json};

#[derive(Clone, PartialEq, Eq)]
pub struct DynamoDbEndpoint {
    pub region: String,
    /// `"credentials": "environment"`: no keys of its own; the server's, if
    /// its operator lends them (`SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS`).
    pub environment_credentials: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `http(s)://host[:port]`; None: `https://dynamodb.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    pub table_prefix: Option<String>,
}

/// `https://<…>.amazonaws.com[:port]`.
fn is_aws(endpoint: &str) -> bool {
    url::Url::parse(endpoint).is_ok_and(|url| {
        url.scheme() == "https"
            && url
                .host_str()
                .is_some_and(|h| h.ends_with(".amazonaws.com"))
    })
}

/// Never prints the secrets: configurations end up in error chains and logs.
impl std::fmt::Debug for DynamoDbEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbEndpoint")
            .field("region", &self.region)
            .field("environment_credentials", &self.environment_credentials)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| REDACTED),
            )
            .field("endpoint", &self.endpoint)
            .field("table_prefix", &self.table_prefix)
            .finish()
    }
}

const FIELDS: [&str; 7] = [
    "region",
    "credentials",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "endpoint",
    "table_prefix",
];

impl DynamoDbEndpoint {
    pub(super) fn parse(object: &Map<String, Value>) -> Result<Self, SourceConfigError> {
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown dynamodb field `{}`; expected {}",
                unknown.chars().take(64).collect::<String>(),
                FIELDS.join(", ")
            )));
        }
        let text = |name: &str, required: bool| -> Result<Option<String>, SourceConfigError> {
            match object.get(name) {
                None | Some(Value::Null) if required => {
                    Err(invalid(format!("`{name}` is required")))
                }
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() && required => {
                    Err(invalid(format!("`{name}` must not be empty")))
                }
                Some(Value::String(s)) => {
                    plain_text(name, s, 4096)?;
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(invalid(format!("`{name}` must be a string"))),
            }
        };
        let region = text("region", true)?.unwrap_or_default();
        if !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid("`region` looks like `eu-west-1`"));
        }
        let environment_credentials = match text("credentials", false)?.as_deref() {
            None => false,
            Some("environment") => true,
            Some(_) => return Err(invalid("`credentials` is `environment` or left out")),
        };
        if environment_credentials
            && ["access_key_id", "secret_access_key", "session_token"]
                .iter()
                .any(|k| object.get(*k).is_some_and(|v| !v.is_null()))
        {
            return Err(invalid(
                "`credentials: environment` takes no access_key_id, secret_access_key or session_token",
            ));
        }
        let keys = !environment_credentials;
        if environment_credentials
            && let Some(endpoint) = text("endpoint", false)?
            && !is_aws(&endpoint)
        {
            return Err(invalid(
                "with `credentials: environment`, `endpoint` must be an https://…amazonaws.com endpoint: the server's own keys go to AWS only",
            ));
        }
        let endpoint = text("endpoint", false)?;
        if let Some(endpoint) = &endpoint {
            let url = url::Url::parse(endpoint)
                .map_err(|e| invalid(format!("`endpoint` is not a URL: {e}")))?;
            let bare = url.path() == "/" && url.query().is_none() && url.username().is_empty();
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
                return Err(invalid(
                    "`endpoint` is `http(s)://host[:port]`, without a path, query or user",
                ));
            }
        }
        Ok(Self {
            region,
            environment_credentials,
            access_key_id: text("access_key_id", keys)?.unwrap_or_default(),
            secret_access_key: text("secret_access_key", keys)?.unwrap_or_default(),
            session_token: text("session_token", false)?,
            endpoint,
            table_prefix: text("table_prefix", false)?.filter(|p| !p.is_empty()),
        })
    }

    /// The client's form; with `redact`, the secrets as `********`.
    pub(super) fn render(&self, redact: bool) -> Value {
        let secret = |value: &str| {
            if redact {
                REDACTED.to_owned()
            } else {
                value.to_owned()
            }
        };
        let mut rendered = if self.environment_credentials {
            json!({"region": self.region, "credentials": "environment"})
        } else {
            json!({
                "region": self.region,
                "access_key_id": self.access_key_id,
                "secret_access_key": secret(&self.secret_access_key),
            })
        };
        let object = rendered.as_object_mut().expect("an object");
        if let Some(token) = &self.session_token {
            object.insert("session_token".into(), json!(secret(token)));
        }
        if let Some(endpoint) = &self.endpoint {
            object.insert("endpoint".into(), json!(endpoint));
        }
        if let Some(prefix) = &self.table_prefix {
            object.insert("table_prefix".into(), json!(prefix));
        }
        rendered
    }

    /// Where requests go: the endpoint, or the region's public one.
    pub fn endpoint_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://dynamodb.{}.amazonaws.com", self.region))
    }

    /// `********` keeps the stored secret only while it would be sent with the
    /// same key id to the same endpoint and region.
    pub(super) fn keep_secrets_from(mut self, stored: &Self) -> Result<Self, SourceConfigError> {
        let same_place = self.access_key_id == stored.access_key_id
            && self.endpoint_url() == stored.endpoint_url()
            && self.region == stored.region;
        if !self.environment_credentials && self.secret_access_key == REDACTED {
            if !same_place {
                return Err(SourceConfigError::PasswordRequired(
                    ": send `secret_access_key` again when the key id, region or endpoint changes",
                ));
            }
            self.secret_access_key = stored.secret_access_key.clone();
        }
        if self.session_token.as_deref() == Some(REDACTED) {
            if !same_place {
                return Err(SourceConfigError::PasswordRequired(
                    ": send `session_token` again when the key id, region or endpoint changes",
                ));
            }
            self.session_token = stored.session_token.clone();
        }
        Ok(self)
    }

    pub(super) fn has_placeholder(&self) -> bool {
        !self.environment_credentials && self.secret_access_key == REDACTED
            || self.session_token.as_deref() == Some(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use crate::{SourceConfig, SourceKind};
    use serde_json::json;

    fn parse(raw: serde_json::Value) -> Result<SourceConfig, crate::SourceConfigError> {
        SourceConfig::parse(SourceKind::Dynamodb, &raw)
    }

    #[test]
    fn secrets_are_redacted_and_kept_only_for_the_same_key_and_endpoint() {
        let stored = parse(json!({"region": "eu-west-1", "access_key_id": "AKID",
            "secret_access_key": "s3cret", "session_token": "tok"}))
        .unwrap();
        let shown = stored.redacted();
        assert_eq!(shown["secret_access_key"], "********");
        assert_eq!(shown["session_token"], "********");
        assert!(!shown.to_string().contains("s3cret"));
        assert!(!format!("{stored:?}").contains("s3cret"));
        assert!(!format!("{stored:?}").contains("tok\""));
        assert_eq!(parse(stored.sealed_form()).unwrap(), stored);

        let kept = parse(shown.clone())
            .unwrap()
            .keep_password_from(&stored)
            .unwrap();
        assert_eq!(kept, stored);
        let mut elsewhere = shown;
        elsewhere["endpoint"] = json!("http://attacker.example:8000");
        assert!(
            parse(elsewhere)
                .unwrap()
                .keep_password_from(&stored)
                .is_err()
        );
    }

    #[test]
    fn environment_credentials_are_asked_for_by_name() {
        let config = parse(json!({"region": "eu-west-1", "credentials": "environment"})).unwrap();
        assert_eq!(
            config.redacted(),
            json!({"region": "eu-west-1", "credentials": "environment"})
        );
        assert_eq!(parse(config.sealed_form()).unwrap(), config);
    }

    #[test]
    fn bad_configurations_are_refused() {
        for raw in [
            json!({"access_key_id": "a", "secret_access_key": "b"}),
            json!({"region": "eu-west-1", "access_key_id": "a"}),
            json!({"region": "EU WEST", "access_key_id": "a", "secret_access_key": "b"}),
            json!({"region": "eu-west-1", "access_key_id": "a", "secret_access_key": "b", "endpoint": "ftp://x"}),
            json!({"region": "eu-west-1", "access_key_id": "a", "secret_access_key": "b", "endpoint": "http://x/path?q"}),
            json!({"region": "eu-west-1", "access_key_id": "a", "secret_access_key": "b", "profile": "x"}),
            json!({"region": "eu-west-1", "credentials": "environment", "access_key_id": "a"}),
            json!({"region": "eu-west-1", "credentials": "instance"}),
            json!({"region": "eu-west-1", "credentials": "environment", "endpoint": "http://collector.example:8000"}),
        ] {
            assert!(parse(raw.clone()).is_err(), "{raw}");
        }
    }
}
