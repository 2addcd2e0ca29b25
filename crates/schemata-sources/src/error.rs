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
    /// The server speaks TLS but the session could not be secured as asked.
    #[error(
        "TLS negotiation with the source failed ({0}); verify-ca and verify-full need a certificate from a public CA or from the connection's `ca_certificate`"
    )]
    Tls(String),
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
    /// The source is busy (too many connections, a serialization failure, a
    /// deadlock, starting up): its words. Worth another try later.
    #[error("{0}")]
    Busy(String),
}

/// SQLSTATEs (PostgreSQL) and error numbers (MySQL) that say "not now"
/// rather than "never": too many connections, serialization failure,
/// deadlock, lock wait timeout, starting up or shutting down.
const BUSY_CODES: [&str; 9] = [
    "53300", "40001", "40P01", "57P03", "57P01", "55P03", "1040", "1205", "1213",
];

fn busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code()
        .is_some_and(|code| BUSY_CODES.contains(&code.as_ref()) || code.starts_with("08"))
}

impl SourceError {
    /// Whether another attempt later may succeed: the source was unreachable,
    /// slow or busy. Bad credentials, unknown databases, missing privileges
    /// and policy refusals are final.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable | Self::Timeout(_) | Self::Busy(_))
    }

    /// A failure while connecting: only a database's own error is passed on.
    pub fn from_connect(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) if busy(db.as_ref()) => Self::Busy(bounded(db.message())),
            sqlx::Error::Database(db) => Self::Rejected(bounded(db.message())),
            sqlx::Error::Io(io) if AccessPolicy::is_refusal(&io) => Self::Refused,
            sqlx::Error::Tls(tls) => Self::Tls(bounded(&tls.to_string())),
            other => {
                tracing::info!(error = %bounded(&other.to_string()), "source unreachable");
                Self::Unreachable
            }
        }
    }

    /// A failure once connected: a failing statement, an answer we could not
    /// read, or the session lost.
    pub fn from_query(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) if busy(db.as_ref()) => Self::Busy(bounded(db.message())),
            sqlx::Error::Database(db) => Self::Query(bounded(db.message())),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. } => Self::Query(bounded(&format!(
                "an answer Schemata could not read: {error}"
            ))),
            other => Self::from_connect(other),
        }
    }
}

/// Longest message taken from a source: a hostile one could send megabytes,
/// which would go to our database, our responses and our logs.
pub const MAX_MESSAGE: usize = 1024;

/// `message`, cut at [`MAX_MESSAGE`] bytes (on a character boundary).
pub fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut at {MAX_MESSAGE} bytes)", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_from_a_source_are_cut() {
        let huge = "é".repeat(10_000);
        let cut = bounded(&huge);
        assert!(cut.len() < MAX_MESSAGE + 40);
        assert!(cut.ends_with("(cut at 1024 bytes)"));
        assert_eq!(bounded("short"), "short");
    }
}
