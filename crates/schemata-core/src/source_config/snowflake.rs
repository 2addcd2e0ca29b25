//! A Snowflake source: an account, a user who signs in with a password or an
//! RSA key pair (PKCS#8 PEM, optionally encrypted with a passphrase), the
//! database to read, and optionally the warehouse and role to use. The
//! password, key and passphrase are secrets, shown as `********`.
//!
//! `endpoint` replaces `https://<account>.snowflakecomputing.com` for
//! emulators and PrivateLink hosts; it passes the access policy like any host.

use super::{REDACTED, SourceConfigError, invalid, plain_text};
use serde_json::{Map, Value, json};

#[derive(Clone, PartialEq, Eq)]
pub struct SnowflakeAccount {
    /// The account identifier: `myorg-myaccount` or `xy12345.eu-west-1`.
    pub account: String,
    pub user: String,
    pub credential: SnowflakeCredential,
    pub warehouse: Option<String>,
    pub role: Option<String>,
    /// As Snowflake's SQL reads it: unquoted names fold to upper case,
    /// `"quoted"` ones are exact (see [`resolve_identifier`]).
    pub database: String,
    /// `http(s)://host[:port]`; None: the account's public host.
    pub endpoint: Option<String>,
}

/// How the user signs in.
#[derive(Clone, PartialEq, Eq)]
pub enum SnowflakeCredential {
    Password(String),
    /// Key-pair authentication: a PKCS#8 PEM private key.
    KeyPair {
        private_key: String,
        passphrase: Option<String>,
    },
}

/// Never prints the secrets: configurations end up in error chains and logs.
impl std::fmt::Debug for SnowflakeAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credential = match self.credential {
            SnowflakeCredential::Password(_) => "password",
            SnowflakeCredential::KeyPair { .. } => "key pair",
        };
        f.debug_struct("SnowflakeAccount")
            .field("account", &self.account)
            .field("user", &self.user)
            .field("credential", &credential)
            .field("warehouse", &self.warehouse)
            .field("role", &self.role)
            .field("database", &self.database)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

const FIELDS: [&str; 9] = [
    "account",
    "user",
    "password",
    "private_key",
    "private_key_passphrase",
    "warehouse",
    "role",
    "database",
    "endpoint",
];

/// A name as Snowflake's SQL reads it: `"Quoted"` is exact (with `""` for a
/// quote), a plain identifier folds to upper case, anything else (spaces,
/// dots, …) is taken exactly as written.
pub fn resolve_identifier(raw: &str) -> String {
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        return raw[1..raw.len() - 1].replace("\"\"", "\"");
    }
    let plain = raw
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        raw.to_ascii_uppercase()
    } else {
        raw.to_owned()
    }
}

impl SnowflakeAccount {
    pub(super) fn parse(object: &Map<String, Value>) -> Result<Self, SourceConfigError> {
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown snowflake field `{}`; expected {}",
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
                Some(Value::String(s)) if s.is_empty() => {
                    Err(invalid(format!("`{name}` must not be empty")))
                }
                Some(Value::String(s)) => {
                    // A PEM key has line breaks; nothing else may.
                    if name == "private_key" {
                        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
                            return Err(invalid("`private_key` must be a PEM text"));
                        }
                        if s.len() > 16384 {
                            return Err(invalid("`private_key` is longer than 16384 bytes"));
                        }
                    } else {
                        plain_text(name, s, 1024)?;
                    }
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(invalid(format!("`{name}` must be a string"))),
            }
        };
        let account = text("account", true)?.unwrap_or_default();
        if !account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "`account` is an account identifier such as `myorg-myaccount` or `xy12345.eu-west-1`",
            ));
        }
        let credential = match (
            text("password", false)?,
            text("private_key", false)?,
            text("private_key_passphrase", false)?,
        ) {
            (Some(password), None, None) => SnowflakeCredential::Password(password),
            (None, Some(private_key), passphrase) => {
                let armored = private_key == REDACTED
                    || private_key.contains("-----BEGIN PRIVATE KEY-----")
                    || private_key.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----");
                if !armored {
                    return Err(invalid(
                        "`private_key` is a PKCS#8 PEM key (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN ENCRYPTED PRIVATE KEY-----`)",
                    ));
                }
                SnowflakeCredential::KeyPair {
                    private_key,
                    passphrase,
                }
            }
            (Some(_), Some(_), _) => {
                return Err(invalid("give `password` or `private_key`, not both"));
            }
            (_, None, Some(_)) => {
                return Err(invalid("`private_key_passphrase` goes with `private_key`"));
            }
            (None, None, None) => return Err(invalid("`password` or `private_key` is required")),
        };
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
            // The login carries the password or a signed token: in clear
            // text only to an emulator on this machine.
            let loopback = match url.host() {
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if url.scheme() == "http" && !loopback {
                return Err(invalid(
                    "`endpoint` must be https:// (http:// only for an emulator on localhost)",
                ));
            }
        }
        Ok(Self {
            account,
            user: text("user", true)?.unwrap_or_default(),
            credential,
            warehouse: text("warehouse", false)?,
            role: text("role", false)?,
            database: text("database", true)?.unwrap_or_default(),
            endpoint,
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
        let mut rendered = json!({
            "account": self.account,
            "user": self.user,
            "database": self.database,
        });
        let object = rendered.as_object_mut().expect("an object");
        match &self.credential {
            SnowflakeCredential::Password(password) => {
                object.insert("password".into(), json!(secret(password)));
            }
            SnowflakeCredential::KeyPair {
                private_key,
                passphrase,
            } => {
                object.insert("private_key".into(), json!(secret(private_key)));
                if let Some(passphrase) = passphrase {
                    object.insert("private_key_passphrase".into(), json!(secret(passphrase)));
                }
            }
        }
        for (name, value) in [
            ("warehouse", &self.warehouse),
            ("role", &self.role),
            ("endpoint", &self.endpoint),
        ] {
            if let Some(value) = value {
                object.insert(name.into(), json!(value));
            }
        }
        rendered
    }

    /// Where requests go: the endpoint, or the account's public host.
    pub fn endpoint_url(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            format!(
                "https://{}.snowflakecomputing.com",
                self.account.to_ascii_lowercase()
            )
        })
    }

    /// The account as the login and the key-pair token name it: upper case,
    /// without a region or cloud suffix (`xy12345.eu-west-1` → `XY12345`).
    pub fn account_name(&self) -> String {
        self.account
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase()
    }

    /// `********` keeps a stored secret only while it would go with the same
    /// account and user to the same endpoint.
    pub(super) fn keep_secrets_from(mut self, stored: &Self) -> Result<Self, SourceConfigError> {
        if !self.has_placeholder() {
            return Ok(self);
        }
        let same_place = self.account.eq_ignore_ascii_case(&stored.account)
            && self.user == stored.user
            && self.endpoint_url() == stored.endpoint_url();
        if !same_place {
            return Err(SourceConfigError::PasswordRequired(
                ": send the password or private key again when the account, user or endpoint changes",
            ));
        }
        let missing = || {
            SourceConfigError::PasswordRequired(
                ": the stored configuration has no such secret to keep",
            )
        };
        self.credential = match (self.credential, &stored.credential) {
            (SnowflakeCredential::Password(sent), SnowflakeCredential::Password(kept)) => {
                SnowflakeCredential::Password(if sent == REDACTED { kept.clone() } else { sent })
            }
            (
                SnowflakeCredential::KeyPair {
                    private_key,
                    passphrase,
                },
                SnowflakeCredential::KeyPair {
                    private_key: kept_key,
                    passphrase: kept_passphrase,
                },
            ) => {
                let passphrase = match passphrase {
                    Some(p) if p == REDACTED => Some(kept_passphrase.clone().ok_or_else(missing)?),
                    other => other,
                };
                SnowflakeCredential::KeyPair {
                    private_key: if private_key == REDACTED {
                        kept_key.clone()
                    } else {
                        private_key
                    },
                    passphrase,
                }
            }
            _ => return Err(missing()),
        };
        Ok(self)
    }

    pub(super) fn has_placeholder(&self) -> bool {
        match &self.credential {
            SnowflakeCredential::Password(password) => password == REDACTED,
            SnowflakeCredential::KeyPair {
                private_key,
                passphrase,
            } => private_key == REDACTED || passphrase.as_deref() == Some(REDACTED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_identifier;
    use crate::{SourceConfig, SourceKind};
    use serde_json::json;

    fn parse(raw: serde_json::Value) -> Result<SourceConfig, crate::SourceConfigError> {
        SourceConfig::parse(SourceKind::Snowflake, &raw)
    }

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    #[test]
    fn secrets_are_redacted_and_kept_only_for_the_same_account_user_and_endpoint() {
        for secret in [
            json!({"password": "s3cret"}),
            json!({"private_key": KEY, "private_key_passphrase": "s3cret"}),
        ] {
            let mut raw =
                json!({"account": "xy12345.eu-west-1", "user": "LOADER", "database": "ANALYTICS"});
            raw.as_object_mut()
                .unwrap()
                .extend(secret.as_object().unwrap().clone());
            let stored = parse(raw).unwrap();
            let shown = stored.redacted();
            assert!(!shown.to_string().contains("s3cret"), "{shown}");
            assert!(!shown.to_string().contains("MIIB"), "{shown}");
            assert!(!format!("{stored:?}").contains("s3cret"));
            assert!(!format!("{stored:?}").contains("MIIB"));
            assert_eq!(parse(stored.sealed_form()).unwrap(), stored);
            let kept = parse(shown.clone())
                .unwrap()
                .keep_password_from(&stored)
                .unwrap();
            assert_eq!(kept, stored);
            for (field, value) in [
                ("endpoint", "https://attacker.example:8443"),
                ("account", "other"),
                ("user", "SOMEONE"),
            ] {
                let mut elsewhere = shown.clone();
                elsewhere[field] = json!(value);
                assert!(
                    parse(elsewhere)
                        .unwrap()
                        .keep_password_from(&stored)
                        .is_err(),
                    "{field}"
                );
            }
            // On create there is nothing to keep.
            assert!(parse(shown).unwrap().reject_placeholder().is_err());
        }
    }

    #[test]
    fn the_public_host_and_account_name_come_from_the_identifier() {
        let SourceConfig::Snowflake(account) = parse(json!({"account": "xy12345.eu-west-1",
            "user": "u", "password": "p", "database": "d"}))
        .unwrap() else {
            unreachable!()
        };
        assert_eq!(
            account.endpoint_url(),
            "https://xy12345.eu-west-1.snowflakecomputing.com"
        );
        assert_eq!(account.account_name(), "XY12345");
    }

    #[test]
    fn identifiers_resolve_as_snowflake_reads_them() {
        assert_eq!(resolve_identifier("analytics"), "ANALYTICS");
        assert_eq!(resolve_identifier("My_DB$1"), "MY_DB$1");
        assert_eq!(resolve_identifier("\"Mixed\""), "Mixed");
        assert_eq!(resolve_identifier("\"a\"\"b\""), "a\"b");
        assert_eq!(resolve_identifier("with space"), "with space");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let base = json!({"account": "acme", "user": "u", "database": "d"});
        for extra in [
            json!({}),
            json!({"password": "p", "private_key": KEY}),
            json!({"password": "p", "private_key_passphrase": "x"}),
            json!({"private_key": "not a key"}),
            json!({"password": "p", "endpoint": "ftp://x"}),
            json!({"password": "p", "endpoint": "https://x/path"}),
            json!({"password": "p", "endpoint": "http://sf.example.com"}),
            json!({"password": "p", "schema": "x"}),
            json!({"password": ""}),
            json!({"password": "p", "account": "a b"}),
            json!({"password": "p", "database": null}),
        ] {
            let mut raw = base.clone();
            raw.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            assert!(parse(raw.clone()).is_err(), "{raw}");
        }
    }
}
