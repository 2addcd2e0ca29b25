//! Parsing a PostgreSQL or MySQL server's configuration (its URL through
//! `url_form`, or discrete fields) into a [`NetworkEndpoint`], rendering it
//! back, and keeping a stored password only where it may go.

use super::{
    REDACTED, SourceConfigError, invalid,
    network::{Form, NetworkEndpoint, RawParts, SETTINGS, SessionSettings, TlsMode, quoted},
    plain_text, url_form,
};
use crate::SourceKind;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

const FIELDS: [&str; 5] = ["host", "port", "database", "user", "password"];

/// Beside `url` or the fields: a CA certificate in PEM, which no URL carries.
const CA_CERTIFICATE: &str = "ca_certificate";
const MAX_CA_CERTIFICATE: usize = 64 * 1024;

impl NetworkEndpoint {
    pub(super) fn parse(
        kind: SourceKind,
        object: &Map<String, Value>,
    ) -> Result<Self, SourceConfigError> {
        let ca_certificate = match object.get(CA_CERTIFICATE) {
            None | Some(Value::Null) => None,
            Some(Value::String(pem)) => Some(checked_certificate(pem)?),
            Some(_) => return Err(invalid("`ca_certificate` must be a PEM string")),
        };
        if let Some(url) = object.get("url") {
            if object.keys().any(|k| k != "url" && k != CA_CERTIFICATE) {
                return Err(invalid("give either `url` or discrete fields, not both"));
            }
            let url = url
                .as_str()
                .ok_or_else(|| invalid("`url` must be a string"))?;
            let mut endpoint = url_form::parse(kind, url)?;
            endpoint.ca_certificate = ca_certificate;
            return Ok(endpoint);
        }
        let unknown: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|key| {
                !FIELDS.contains(key) && !SETTINGS.contains(key) && *key != CA_CERTIFICATE
            })
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "unknown field(s) {}; expected url, or {} and optionally {}",
                quoted(&unknown),
                FIELDS.join(", "),
                SETTINGS.join(", ")
            )));
        }
        let text = |name: &str| -> Result<Option<String>, SourceConfigError> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("`{name}` must be a string"))),
            }
        };
        let port = match object.get("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("`port` must be a number")),
        };
        let mut settings = Vec::new();
        for name in SETTINGS {
            match object.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => settings.push((name.to_owned(), s.clone())),
                Some(Value::Number(n)) => settings.push((name.to_owned(), n.to_string())),
                Some(_) => return Err(invalid(format!("`{name}` must be a string or a number"))),
            }
        }
        let host = text("host")?.ok_or_else(|| invalid("`host` is required"))?;
        let mut endpoint = Self::build(
            kind,
            Form::Fields,
            RawParts {
                host,
                port,
                database: text("database")?,
                user: text("user")?,
                password: text("password")?,
                settings,
            },
        )?;
        endpoint.ca_certificate = ca_certificate;
        Ok(endpoint)
    }

    /// Validates the parts of either form.
    pub(super) fn build(
        kind: SourceKind,
        form: Form,
        parts: RawParts,
    ) -> Result<Self, SourceConfigError> {
        let host = checked_host(&parts.host)?;
        let port = match parts.port.as_deref() {
            None | Some("") => default_port(kind),
            Some(raw) => raw
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid("`port` must be a number from 1 to 65535"))?,
        };
        let user = parts
            .user
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("`user` is required: Schemata never picks a user for you"))?;
        plain_text("user", &user, 128)?;
        let database = parts.database.filter(|d| !d.is_empty());
        if let Some(database) = &database {
            plain_text("database", database, 128)?;
        }
        let password = parts.password.filter(|p| !p.is_empty());
        if password.as_deref().is_some_and(|p| p.contains('\0')) {
            return Err(invalid("`password` must not contain NUL characters"));
        }
        let mut endpoint = Self {
            kind,
            host,
            port,
            database,
            user,
            password,
            tls: None,
            ca_certificate: None,
            session: SessionSettings::default(),
            form,
        };
        for (name, value) in parts.settings {
            endpoint.apply_setting(&name, &value)?;
        }
        Ok(endpoint)
    }

    fn apply_setting(&mut self, name: &str, value: &str) -> Result<(), SourceConfigError> {
        let number = |max: u32| {
            value
                .parse::<u32>()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| invalid(format!("`{name}` must be a whole number from 1 to {max}")))
        };
        match name {
            "sslmode" | "ssl-mode" => {
                if self.tls.is_some() {
                    return Err(invalid("`sslmode` is given twice"));
                }
                self.tls = Some(TlsMode::parse(value)?);
            }
            "connect_timeout" => self.session.connect_timeout_secs = Some(number(300)?),
            "statement_timeout" => self.session.statement_timeout_ms = Some(number(3_600_000)?),
            "lock_timeout" => self.session.lock_timeout_ms = Some(number(3_600_000)?),
            other => return Err(invalid(format!("unknown setting `{other}`"))),
        }
        Ok(())
    }

    /// The configuration in its client form; `********` for the password when `redact`.
    pub(super) fn render(&self, redact: bool) -> Value {
        let password = self
            .password
            .as_deref()
            .map(|p| if redact { REDACTED } else { p });
        let mut rendered = match self.form {
            Form::Url => json!({ "url": url_form::render(self, password) }),
            Form::Fields => {
                let mut fields = Map::new();
                fields.insert("host".into(), json!(self.host));
                fields.insert("port".into(), json!(self.port));
                if let Some(database) = &self.database {
                    fields.insert("database".into(), json!(database));
                }
                fields.insert("user".into(), json!(self.user));
                if let Some(password) = password {
                    fields.insert("password".into(), json!(password));
                }
                for (name, value) in self.settings() {
                    fields.insert(name.into(), json!(value));
                }
                Value::Object(fields)
            }
        };
        if let Some(pem) = &self.ca_certificate {
            rendered[CA_CERTIFICATE] = json!(pem);
        }
        rendered
    }

    /// The non-secret settings, as name and value, in a fixed order.
    pub(super) fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = Vec::new();
        if let Some(tls) = self.tls {
            settings.push(("sslmode", tls.as_str().to_owned()));
        }
        let session = &self.session;
        for (name, value) in [
            ("connect_timeout", session.connect_timeout_secs),
            ("statement_timeout", session.statement_timeout_ms),
            ("lock_timeout", session.lock_timeout_ms),
        ] {
            if let Some(value) = value {
                settings.push((name, value.to_string()));
            }
        }
        settings
    }

    pub(super) fn keep_password_from(
        mut self,
        stored: &NetworkEndpoint,
    ) -> Result<Self, SourceConfigError> {
        if self.password.as_deref() != Some(REDACTED) {
            return Ok(self);
        }
        if stored.password.is_none() {
            return Err(SourceConfigError::PasswordRequired(
                ": this connection has no stored password",
            ));
        }
        // The same server, reached at least as safely: a weaker sslmode or
        // another CA could hand the password to someone else on the path.
        let same_place = self.kind == stored.kind
            && self.host.eq_ignore_ascii_case(&stored.host)
            && self.port == stored.port
            && self.user == stored.user
            && self.database == stored.database
            && TlsMode::rank(self.tls) >= TlsMode::rank(stored.tls)
            && self.ca_certificate == stored.ca_certificate;
        if !same_place {
            let why = if TlsMode::rank(self.tls) < TlsMode::rank(stored.tls) {
                ": the new sslmode is weaker than the stored one"
            } else if self.ca_certificate != stored.ca_certificate {
                ": the CA certificate changed"
            } else {
                ""
            };
            return Err(SourceConfigError::PasswordRequired(why));
        }
        self.password.clone_from(&stored.password);
        Ok(self)
    }

    /// The database a session lands in: PostgreSQL falls back on the user name.
    pub fn effective_database(&self) -> Option<&str> {
        match (self.kind, self.database.as_deref()) {
            (_, Some(database)) => Some(database),
            (SourceKind::Postgresql, None) => Some(&self.user),
            _ => None,
        }
    }
}

fn default_port(kind: SourceKind) -> u16 {
    match kind {
        SourceKind::Mysql => 3306,
        _ => 5432,
    }
}

/// A DNS name or an IP address. Unix-socket directories, host lists
/// (`a,b`), and anything else a driver would read as more than one TCP host
/// are refused.
fn checked_host(raw: &str) -> Result<String, SourceConfigError> {
    let host = raw.trim();
    if host.is_empty() {
        return Err(invalid("`host` is required"));
    }
    if host.starts_with('/') || host.starts_with('@') || host.contains('\\') {
        return Err(invalid(
            "`host` must be a DNS name or an IP address: unix sockets are not allowed",
        ));
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let labels_ok = host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !labels_ok {
        return Err(invalid(
            "`host` must be one DNS name or IP address (letters, digits, `-`, `.`)",
        ));
    }
    Ok(host.to_ascii_lowercase())
}

fn checked_certificate(pem: &str) -> Result<String, SourceConfigError> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > MAX_CA_CERTIFICATE {
        return Err(invalid(
            "`ca_certificate` must be one or more PEM certificates (-----BEGIN CERTIFICATE-----), at most 64 KiB",
        ));
    }
    if pem.contains('\0') {
        return Err(invalid("`ca_certificate` must not contain NUL characters"));
    }
    Ok(pem.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_config::SourceConfig;

    fn fields(raw: Value) -> Result<SourceConfig, SourceConfigError> {
        SourceConfig::parse(SourceKind::Postgresql, &raw)
    }

    #[test]
    fn discrete_fields_are_validated_and_the_password_is_hidden() {
        let config = fields(
            json!({"host": "DB.example.com", "database": "app", "user": "reader",
            "password": "p@ss word", "sslmode": "require", "statement_timeout": 5000}),
        )
        .unwrap();
        let SourceConfig::Network(endpoint) = &config else {
            panic!("a network endpoint")
        };
        assert_eq!(endpoint.host, "db.example.com");
        assert_eq!(endpoint.port, 5432);
        assert_eq!(endpoint.password.as_deref(), Some("p@ss word"));
        assert_eq!(endpoint.session.statement_timeout_ms, Some(5000));
        let shown = config.redacted();
        assert_eq!(shown["password"], REDACTED);
        assert!(!shown.to_string().contains("p@ss"));
        assert!(
            !format!("{config:?}").contains("p@ss"),
            "Debug hides it too"
        );
        assert_eq!(
            SourceConfig::parse(SourceKind::Postgresql, &config.sealed_form()),
            Ok(config)
        );
    }

    #[test]
    fn hosts_that_are_not_one_tcp_host_are_refused() {
        for host in [
            "/var/run/postgresql",
            "a,b",
            "",
            "db example",
            "@abstract",
            "x/y",
            "h:5432",
        ] {
            let result = fields(json!({"host": host, "user": "u"}));
            assert!(result.is_err(), "`{host}` should be refused");
        }
        let ipv6 = fields(json!({"host": "[::1]", "user": "u"})).unwrap();
        assert!(matches!(ipv6, SourceConfig::Network(e) if e.host == "::1"));
    }

    #[test]
    fn a_user_is_required_and_unknown_fields_are_named() {
        assert!(fields(json!({"host": "db"})).is_err());
        let error = fields(json!({"host": "db", "user": "u", "passfile": "/root/.pgpass"}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`passfile`"), "{error}");
    }

    #[test]
    fn the_placeholder_keeps_the_password_only_for_the_same_place() {
        let stored =
            fields(json!({"host": "db", "user": "u", "password": "s3cret", "database": "app"}))
                .unwrap();
        let same = fields(json!({"host": "DB", "user": "u", "password": REDACTED, "database": "app", "sslmode": "require"})).unwrap();
        let kept = same.keep_password_from(&stored).unwrap();
        assert!(
            matches!(kept, SourceConfig::Network(e) if e.password.as_deref() == Some("s3cret"))
        );
        for moved in [
            json!({"host": "evil", "user": "u", "password": REDACTED, "database": "app"}),
            json!({"host": "db", "port": 6543, "user": "u", "password": REDACTED, "database": "app"}),
            json!({"host": "db", "user": "admin", "password": REDACTED, "database": "app"}),
            json!({"host": "db", "user": "u", "password": REDACTED, "database": "other"}),
        ] {
            let sent = fields(moved.clone()).unwrap();
            assert!(
                matches!(
                    sent.keep_password_from(&stored),
                    Err(SourceConfigError::PasswordRequired(_))
                ),
                "{moved}"
            );
        }
        let verified = fields(
            json!({"host": "db", "user": "u", "password": "s3cret", "sslmode": "verify-full"}),
        )
        .unwrap();
        for weaker in ["require", "prefer", "disable"] {
            let sent =
                fields(json!({"host": "db", "user": "u", "password": REDACTED, "sslmode": weaker}))
                    .unwrap();
            assert!(
                sent.keep_password_from(&verified).is_err(),
                "{weaker} must not inherit"
            );
        }
        let stronger = fields(json!({"host": "db", "user": "u", "password": REDACTED, "database": "app", "sslmode": "verify-full"})).unwrap();
        assert!(
            stronger.keep_password_from(&stored).is_ok(),
            "a stronger mode may inherit"
        );
        let other_ca = fields(
            json!({"host": "db", "user": "u", "password": REDACTED, "database": "app",
            "ca_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
        )
        .unwrap();
        assert!(
            other_ca.keep_password_from(&stored).is_err(),
            "another CA is another place"
        );
        let no_password = fields(json!({"host": "db", "user": "u"})).unwrap();
        let sent = fields(json!({"host": "db", "user": "u", "password": REDACTED})).unwrap();
        assert!(sent.keep_password_from(&no_password).is_err());
    }
}
