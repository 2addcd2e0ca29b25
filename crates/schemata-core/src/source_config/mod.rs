//! How to reach a source, parsed from what a client sent. Everything is
//! validated here, once: hosts (no unix sockets, no lists), a closed allowlist of
//! URL parameters, and passwords, which may arrive in the userinfo, in
//! `password=` or as a discrete field and always end up in one place.
//!
//! The whole configuration is a secret at rest ([`SourceConfig::sealed_form`]);
//! clients only ever see [`SourceConfig::redacted`].

mod dynamodb;
mod endpoint;
mod network;
mod snowflake;
mod sqlite_file;
mod url_form;

pub use dynamodb::{AssumedRole, DynamoDbEndpoint};
pub use network::{Form, NetworkEndpoint, SessionSettings, TlsMode};
pub use snowflake::{SnowflakeAccount, SnowflakeCredential, resolve_identifier};
pub use sqlite_file::SqliteFile;

use crate::SourceKind;
use serde_json::Value;

/// Shown in place of a password in every response.
pub const REDACTED: &str = "********";

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceConfigError {
    #[error("`configuration` must be an object with `url` or with discrete fields ({0})")]
    NotAnObject(&'static str),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: URL parameter(s) not allowed: {names}. Allowed: {allowed}.")]
    ParametersNotAllowed { names: String, allowed: String },
    #[error(
        "configuration: send the password again: `********` keeps the stored password only while host, port, user and database stay the same and TLS is no weaker (same or stricter sslmode, same CA certificate){0}"
    )]
    PasswordRequired(&'static str),
}

pub(crate) fn invalid(message: impl Into<String>) -> SourceConfigError {
    SourceConfigError::Invalid(message.into())
}

/// A parsed, validated source configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// PostgreSQL, MySQL or MariaDB over TCP.
    Network(NetworkEndpoint),
    /// A SQLite file, opened read-only.
    Sqlite(SqliteFile),
    /// DynamoDB tables of one region.
    DynamoDb(DynamoDbEndpoint),
    /// One database of a Snowflake account.
    Snowflake(SnowflakeAccount),
}

impl SourceConfig {
    /// Parses a client's `configuration` for a connection of `kind`.
    pub fn parse(kind: SourceKind, raw: &Value) -> Result<Self, SourceConfigError> {
        let object = raw
            .as_object()
            .ok_or(SourceConfigError::NotAnObject(kind.discrete_fields()))?;
        match kind {
            SourceKind::Postgresql | SourceKind::Mysql => {
                NetworkEndpoint::parse(kind, object).map(Self::Network)
            }
            SourceKind::Sqlite => SqliteFile::parse(object).map(Self::Sqlite),
            SourceKind::Dynamodb => DynamoDbEndpoint::parse(object).map(Self::DynamoDb),
            SourceKind::Snowflake => SnowflakeAccount::parse(object).map(Self::Snowflake),
        }
    }

    /// The configuration as clients may see it: every password replaced by `********`.
    pub fn redacted(&self) -> Value {
        match self {
            Self::Network(endpoint) => endpoint.render(true),
            Self::Sqlite(file) => file.render(),
            Self::DynamoDb(endpoint) => endpoint.render(true),
            Self::Snowflake(account) => account.render(true),
        }
    }

    /// What is sealed at rest: the client's form with its secrets, which
    /// [`SourceConfig::parse`] reads back to the same configuration.
    pub fn sealed_form(&self) -> Value {
        match self {
            Self::Network(endpoint) => endpoint.render(false),
            Self::Sqlite(file) => file.render(),
            Self::DynamoDb(endpoint) => endpoint.render(false),
            Self::Snowflake(account) => account.render(false),
        }
    }

    /// The server the source lives on, without user or database: refreshes of
    /// every connection to one server share its cap of concurrent reads.
    pub fn server(&self) -> String {
        match self {
            Self::Network(endpoint) => format!(
                "{}://{}:{}",
                endpoint.kind.as_str(),
                endpoint.host.to_ascii_lowercase(),
                endpoint.port
            ),
            Self::Sqlite(file) => format!("sqlite:{}", file.path),
            Self::DynamoDb(endpoint) => format!("dynamodb:{}", endpoint.endpoint_url()),
            Self::Snowflake(account) => format!("snowflake:{}", account.endpoint_url()),
        }
    }

    /// A client that sends `********` back means "keep the stored password";
    /// that is honoured only while the password would go to the same place.
    pub fn keep_password_from(self, previous: &SourceConfig) -> Result<Self, SourceConfigError> {
        match (self, previous) {
            (Self::Network(sent), Self::Network(stored)) => {
                sent.keep_password_from(stored).map(Self::Network)
            }
            (Self::DynamoDb(sent), Self::DynamoDb(stored)) => sent
                .keep_secrets_from(stored)?
                .with_external_id_from(Some(stored))
                .map(Self::DynamoDb),
            (Self::Snowflake(sent), Self::Snowflake(stored)) => {
                sent.keep_secrets_from(stored).map(Self::Snowflake)
            }
            (Self::Snowflake(sent), _) if sent.has_placeholder() => Err(
                SourceConfigError::PasswordRequired(": this connection has no stored secret"),
            ),
            (Self::DynamoDb(sent), _) if sent.has_placeholder() => Err(
                SourceConfigError::PasswordRequired(": this connection has no stored secret"),
            ),
            (Self::Network(sent), _) if sent.password.as_deref() == Some(REDACTED) => Err(
                SourceConfigError::PasswordRequired(": this connection has no stored password"),
            ),
            (Self::DynamoDb(sent), _) => sent.with_external_id_from(None).map(Self::DynamoDb),
            (sent, _) => Ok(sent),
        }
    }

    /// The one schema a connection may cache, when its configuration pins
    /// one: a MySQL URL's database (MySQL's schemas are its databases).
    pub fn pinned_schema(&self) -> Option<&str> {
        match self {
            Self::Network(endpoint) if endpoint.kind == SourceKind::Mysql => {
                endpoint.database.as_deref()
            }
            _ => None,
        }
    }

    /// What a connection with this configuration and `scope` may cache: the
    /// schema the configuration pins narrows the filter to it.
    pub fn effective_scope(&self, scope: &crate::CacheScope) -> crate::CacheScope {
        match self.pinned_schema() {
            Some(database) => crate::CacheScope {
                schema_filter: crate::SchemaFilter::parse(vec![database.to_owned()])
                    .unwrap_or_default(),
                table_allowlist: scope.table_allowlist.clone(),
            },
            None => scope.clone(),
        }
    }

    /// Refuses a scope that reaches past the schema the configuration pins.
    pub fn check_scope(&self, scope: &crate::CacheScope) -> Result<(), SourceConfigError> {
        let Some(database) = self.pinned_schema() else {
            return Ok(());
        };
        let outside = scope
            .schema_filter
            .names()
            .iter()
            .find(|s| *s != database)
            .map(|s| format!("schema_filter names `{s}`"))
            .or_else(|| {
                scope
                    .table_allowlist
                    .ids()
                    .iter()
                    .find(|id| id.schema != database)
                    .map(|id| format!("table_allowlist names `{id}`"))
            });
        match outside {
            Some(what) => Err(invalid(format!(
                "{what}, but the URL's database `{database}` scopes this connection; \
                 remove the database from the URL to read several"
            ))),
            None => Ok(()),
        }
    }

    /// A configuration for a connection with nothing stored (on create, or
    /// replacing one that cannot be read): no placeholder to keep, and the
    /// ids Schemata generates (a DynamoDB role's external id) made now.
    pub fn for_new_connection(self) -> Result<Self, SourceConfigError> {
        self.reject_placeholder()?;
        match self {
            Self::DynamoDb(endpoint) => endpoint.with_external_id_from(None).map(Self::DynamoDb),
            other => Ok(other),
        }
    }

    /// Refuses the placeholder where there is nothing stored to keep (on create).
    pub fn reject_placeholder(&self) -> Result<(), SourceConfigError> {
        match self {
            Self::Network(endpoint) if endpoint.password.as_deref() == Some(REDACTED) => Err(
                invalid("`********` stands for a stored password; send the real password"),
            ),
            Self::DynamoDb(endpoint) if endpoint.has_placeholder() => Err(invalid(
                "`********` stands for a stored secret; send the real secret_access_key and session_token",
            )),
            Self::Snowflake(account) if account.has_placeholder() => Err(invalid(
                "`********` stands for a stored secret; send the real password, private_key or private_key_passphrase",
            )),
            _ => Ok(()),
        }
    }
}

/// Rejects text PostgreSQL cannot store or a driver would cut short.
pub(crate) fn plain_text(what: &str, value: &str, max_len: usize) -> Result<(), SourceConfigError> {
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`{what}` must not contain control characters"
        )));
    }
    if value.len() > max_len {
        return Err(invalid(format!("`{what}` is longer than {max_len} bytes")));
    }
    Ok(())
}
