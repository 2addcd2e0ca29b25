//! A PostgreSQL or MySQL server reached over TCP, and the session settings a
//! connection may choose for it: the types both forms of its configuration
//! (a URL, discrete fields) parse into.

use super::{REDACTED, SourceConfigError, invalid};
use crate::SourceKind;
use std::fmt;

/// The form the client wrote the configuration in; responses keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Url,
    Fields,
}

/// How the session to the source is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    /// PostgreSQL's `sslmode` names; MySQL's `ssl-mode` names are accepted too.
    pub fn parse(raw: &str) -> Result<Self, SourceConfigError> {
        Ok(match raw.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" | "preferred" => Self::Prefer,
            "require" | "required" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" | "verify-identity" => Self::VerifyFull,
            _ => {
                return Err(invalid(
                    "`sslmode` must be one of disable, allow, prefer, require, verify-ca, verify-full",
                ));
            }
        })
    }

    /// How much a mode protects the password: a lower rank never inherits a
    /// password stored under a higher one.
    pub fn rank(mode: Option<Self>) -> u8 {
        match mode.unwrap_or(Self::Prefer) {
            Self::Disable => 0,
            Self::Allow => 1,
            Self::Prefer => 2,
            Self::Require => 3,
            Self::VerifyCa => 4,
            Self::VerifyFull => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Per-connection bounds on the source session; the service's own limits cap them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSettings {
    pub connect_timeout_secs: Option<u32>,
    pub statement_timeout_ms: Option<u32>,
    pub lock_timeout_ms: Option<u32>,
}

/// A database server over TCP: where it is, who we are there, and the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkEndpoint {
    pub kind: SourceKind,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub user: String,
    pub password: Option<String>,
    pub tls: Option<TlsMode>,
    /// A CA certificate (PEM) the server's certificate must chain to, for
    /// `verify-ca` / `verify-full` with a private CA (managed databases).
    pub ca_certificate: Option<String>,
    pub session: SessionSettings,
    pub form: Form,
}

/// Never prints the password: configurations end up in error chains and logs.
impl fmt::Debug for NetworkEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkEndpoint")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("tls", &self.tls)
            .field(
                "ca_certificate",
                &self.ca_certificate.as_ref().map(|_| "PEM"),
            )
            .field("session", &self.session)
            .finish()
    }
}

/// What a client may set, as a URL parameter or a discrete field, besides
/// host/port/database/user/password.
pub(super) const SETTINGS: [&str; 5] = [
    "sslmode",
    "ssl-mode",
    "connect_timeout",
    "statement_timeout",
    "lock_timeout",
];

/// What either form supplies before validation.
pub(super) struct RawParts {
    pub host: String,
    pub port: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub settings: Vec<(String, String)>,
}

pub(super) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.chars().take(64).collect::<String>()))
        .collect::<Vec<_>>()
        .join(", ")
}
