use std::time::Duration;

/// Why a source could not be reached or read. Messages are safe to show to the
/// connection's owner: they never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Unreachable(String),
    #[error("timed out after {}s connecting to the source", .0.as_secs())]
    ConnectTimeout(Duration),
    #[error("the source answered with an error: {0}")]
    Query(String),
    #[error("invalid source configuration: {0}")]
    Configuration(String),
    #[error("source type `{0}` is not supported by this version of Schemata yet")]
    Unsupported(String),
}

impl SourceError {
    /// Turns a driver error into a message a user can act on.
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => Self::Unreachable(db.message().to_owned()),
            sqlx::Error::Io(io) => {
                Self::Unreachable(format!("could not connect to the source: {io}"))
            }
            sqlx::Error::Tls(tls) => {
                Self::Unreachable(format!("TLS negotiation with the source failed: {tls}"))
            }
            sqlx::Error::Configuration(e) => Self::Configuration(e.to_string()),
            sqlx::Error::PoolTimedOut => {
                Self::Unreachable("timed out waiting for a connection to the source".into())
            }
            other => Self::Unreachable(other.to_string()),
        }
    }

    /// For errors once connected: a failing catalog query.
    pub fn from_query(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => Self::Query(db.message().to_owned()),
            other => Self::from_sqlx(other),
        }
    }
}
