/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("failed to enqueue the job")]
    Queue(#[from] apalis_postgres::Error),
    #[error("stored credentials could not be decrypted: wrong SCHEMATA_ENCRYPTION_KEY?")]
    Decrypt,
    /// A stored value today's code cannot read (a name outside its set…).
    #[error("{0}")]
    Corrupt(String),
    /// The connection was deleted while the operation was under way.
    #[error("connection {0} no longer exists")]
    ConnectionGone(uuid::Uuid),
    /// A stored configuration that today's rules no longer accept.
    #[error("the stored configuration is no longer accepted ({0}); send it again with PATCH")]
    StaleConfiguration(String),
    #[error("the database is not migrated: {0}. Run `schemata migrate` first")]
    NotMigrated(String),
}

impl From<schemata_core::UnknownName> for StoreError {
    fn from(error: schemata_core::UnknownName) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl StoreError {
    /// True when PostgreSQL refused text it cannot store (NUL characters).
    pub fn is_bad_text(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("22021" | "22P05")))
    }

    /// True when a foreign key rejected the write: what it pointed at is gone.
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e)) if e.is_foreign_key_violation())
    }

    /// True when our database could not be reached or is going away: a
    /// condition to wait out (503), not a bug (500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions.
            Self::Database(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
            Self::Queue(_) => false,
            _ => false,
        }
    }

    /// True when a unique constraint rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
