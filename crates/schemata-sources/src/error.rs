use crate::AccessPolicy;
use std::time::Duration;

/// Why a source could not be reached or read. Messages are shown to the
/// connection's owner, so they never contain a password, and they say no more
/// about a destination that did not answer as a database than "unreachable" or
/// "refused by policy" (otherwise `POST …/test` would be a port scanner). The
/// operator's log gets the details.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("refused by policy")]
    Refused,
    #[error("unreachable")]
    Unreachable,
    /// The database itself refused us (bad password, unknown database): its words.
    #[error("{0}")]
    Rejected(String),
    #[error("the source did not answer within {}s", .0.as_secs())]
    Timeout(Duration),
    #[error("the source answered with an error: {0}")]
    Query(String),
    #[error("invalid source configuration: {0}")]
    Configuration(String),
    /// A configured cap on what one refresh may read was reached.
    #[error("{0}")]
    TooLarge(String),
    #[error("source type `{0}` is not supported by this version of Schemata yet")]
    Unsupported(String),
}

impl SourceError {
    /// A failure while connecting: only a database's own error is passed on.
    pub fn from_connect(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => Self::Rejected(db.message().to_owned()),
            sqlx::Error::Io(io) if AccessPolicy::is_refusal(&io) => Self::Refused,
            other => {
                tracing::info!(error = %other, "source unreachable");
                Self::Unreachable
            }
        }
    }

    /// A failure once connected: a failing statement, or the session lost.
    pub fn from_query(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => Self::Query(db.message().to_owned()),
            other => Self::from_connect(other),
        }
    }
}
