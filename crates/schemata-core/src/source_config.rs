//! How to reach a source: a URL, or discrete fields that become one. The whole
//! configuration is a secret at rest; clients only ever see [`SourceConfig::redacted`].

use crate::SourceKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

/// Shown in place of a password in every response.
pub const REDACTED: &str = "********";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceConfigError {
    #[error(
        "configuration must be an object with `url` or with host/port/database/user/password/sslmode"
    )]
    NotAnObject,
    #[error("configuration: {0}")]
    Invalid(String),
}

/// A parsed, validated source configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceConfig {
    Url { url: String },
    Fields(DiscreteFields),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteFields {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub sslmode: Option<String>,
    /// SQLite only: the database file.
    pub path: Option<String>,
}

const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

impl SourceConfig {
    pub fn parse(kind: SourceKind, raw: &Value) -> Result<Self, SourceConfigError> {
        let object = raw.as_object().ok_or(SourceConfigError::NotAnObject)?;
        let config = if object.contains_key("url") {
            if object.len() > 1 {
                return Err(invalid("give either `url` or discrete fields, not both"));
            }
            let url = object["url"]
                .as_str()
                .ok_or_else(|| invalid("`url` must be a string"))?;
            Self::Url {
                url: url.to_owned(),
            }
        } else {
            let fields: DiscreteFields =
                serde_json::from_value(raw.clone()).map_err(|e| invalid(&e.to_string()))?;
            Self::Fields(fields)
        };
        config.connect_url(kind)?;
        Ok(config)
    }

    /// The URL a driver connects with, password included.
    pub fn connect_url(&self, kind: SourceKind) -> Result<String, SourceConfigError> {
        match self {
            Self::Url { url } => {
                let parsed = Url::parse(url)
                    .map_err(|e| invalid(&format!("`url` is not a valid URL: {e}")))?;
                let schemes: &[&str] = match kind {
                    SourceKind::Postgresql => &["postgres", "postgresql"],
                    SourceKind::Mysql => &["mysql", "mariadb"],
                    SourceKind::Sqlite => &["sqlite"],
                };
                if !schemes.contains(&parsed.scheme()) {
                    return Err(invalid(&format!(
                        "`url` scheme `{}` does not match type `{kind}` (expected {})",
                        parsed.scheme(),
                        schemes.join(" or ")
                    )));
                }
                if kind != SourceKind::Sqlite && parsed.host_str().unwrap_or_default().is_empty() {
                    return Err(invalid("`url` must name a host"));
                }
                Ok(url.clone())
            }
            Self::Fields(fields) => fields.connect_url(kind),
        }
    }

    /// The configuration as clients may see it: the password replaced by `********`.
    pub fn redacted(&self) -> Value {
        match self {
            Self::Url { url } => {
                let shown = match Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some(REDACTED));
                        parsed.to_string()
                    }
                    Ok(parsed) => parsed.to_string(),
                    Err(_) => String::from(REDACTED),
                };
                json!({ "url": shown })
            }
            Self::Fields(fields) => {
                let mut shown = fields.clone();
                if shown.password.is_some() {
                    shown.password = Some(REDACTED.into());
                }
                let map: Map<String, Value> = serde_json::to_value(shown)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .collect();
                Value::Object(map)
            }
        }
    }

    /// A client that sends back the redacted password means "keep the one you have".
    pub fn keep_password_from(mut self, previous: &SourceConfig) -> Self {
        let previous_password = match previous {
            Self::Url { url } => Url::parse(url).ok().and_then(|u| u.password().map(decode)),
            Self::Fields(fields) => fields.password.clone(),
        };
        match &mut self {
            Self::Url { url } => {
                if let Ok(mut parsed) = Url::parse(url)
                    && parsed.password() == Some(REDACTED)
                {
                    let _ = parsed.set_password(previous_password.as_deref());
                    *url = parsed.to_string();
                }
            }
            Self::Fields(fields) => {
                if fields.password.as_deref() == Some(REDACTED) {
                    fields.password = previous_password;
                }
            }
        }
        self
    }
}

impl DiscreteFields {
    fn connect_url(&self, kind: SourceKind) -> Result<String, SourceConfigError> {
        if kind == SourceKind::Sqlite {
            let path = self
                .path
                .as_deref()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| invalid("`path` is required for sqlite"))?;
            return Ok(format!("sqlite://{path}"));
        }
        let host = self
            .host
            .as_deref()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("`host` is required"))?;
        let (scheme, default_port) = match kind {
            SourceKind::Mysql => ("mysql", 3306),
            _ => ("postgres", 5432),
        };
        let mut url =
            Url::parse(&format!("{scheme}://localhost")).map_err(|e| invalid(&e.to_string()))?;
        url.set_host(Some(host))
            .map_err(|e| invalid(&format!("`host` is invalid: {e}")))?;
        let _ = url.set_port(Some(self.port.unwrap_or(default_port)));
        if let Some(user) = &self.user {
            let _ = url.set_username(user);
        }
        if let Some(password) = &self.password {
            let _ = url.set_password(Some(password));
        }
        if let Some(database) = &self.database {
            url.set_path(&format!("/{database}"));
        }
        if let Some(mode) = &self.sslmode {
            if !SSL_MODES.contains(&mode.as_str()) {
                return Err(invalid(&format!(
                    "`sslmode` must be one of {}",
                    SSL_MODES.join(", ")
                )));
            }
            url.query_pairs_mut().append_pair("sslmode", mode);
        }
        Ok(url.to_string())
    }
}

fn invalid(message: &str) -> SourceConfigError {
    SourceConfigError::Invalid(message.to_owned())
}

fn decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_configuration_hides_its_password() {
        let config = SourceConfig::parse(
            SourceKind::Postgresql,
            &json!({"url": "postgres://reader:secret@db:5432/app"}),
        )
        .unwrap();
        assert_eq!(
            config.redacted(),
            json!({"url": "postgres://reader:********@db:5432/app"})
        );
        assert_eq!(
            config.connect_url(SourceKind::Postgresql).unwrap(),
            "postgres://reader:secret@db:5432/app"
        );
    }

    #[test]
    fn discrete_fields_build_an_encoded_url_and_hide_the_password() {
        let raw = json!({"host": "db", "database": "app", "user": "reader", "password": "p@ss word", "sslmode": "require"});
        let config = SourceConfig::parse(SourceKind::Postgresql, &raw).unwrap();
        assert_eq!(
            config.connect_url(SourceKind::Postgresql).unwrap(),
            "postgres://reader:p%40ss%20word@db:5432/app?sslmode=require"
        );
        assert_eq!(config.redacted()["password"], REDACTED);
        assert!(!config.redacted().to_string().contains("p@ss"));
    }

    #[test]
    fn bad_configurations_are_rejected_with_a_reason() {
        let cases = [
            json!("postgres://x"),
            json!({"url": "mysql://db/app"}),
            json!({"url": "not a url"}),
            json!({"host": "db", "sslmode": "sometimes"}),
            json!({"database": "app"}),
            json!({"host": "db", "colour": "blue"}),
            json!({"url": "postgres://db/app", "host": "db"}),
        ];
        for raw in cases {
            assert!(
                SourceConfig::parse(SourceKind::Postgresql, &raw).is_err(),
                "{raw} should be rejected"
            );
        }
    }

    #[test]
    fn redacted_password_sent_back_keeps_the_stored_one() {
        let old = SourceConfig::parse(
            SourceKind::Postgresql,
            &json!({"url": "postgres://u:s%40cret@db/app"}),
        )
        .unwrap();
        let new = SourceConfig::parse(
            SourceKind::Postgresql,
            &json!({"url": "postgres://u:********@db2/app"}),
        )
        .unwrap();
        let merged = new.keep_password_from(&old);
        assert_eq!(
            merged.connect_url(SourceKind::Postgresql).unwrap(),
            "postgres://u:s%40cret@db2/app"
        );
    }
}
