/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("failed to enqueue the job")]
    Queue(#[from] apalis_postgres::Error),
    #[error("stored credentials could not be decrypted: wrong SCHEMATA_ENCRYPTION_KEY?")]
    Decrypt,
    #[error("{0}")]
    Corrupt(String),
    #[error("the database is not migrated: {0}. Run `schemata migrate` first")]
    NotMigrated(String),
}

impl StoreError {
    /// True when a unique constraint rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
