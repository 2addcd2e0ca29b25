//! SQLite sources: a file under `SCHEMATA_SQLITE_ROOT`, opened read-only (never
//! created), read with SQLite's table-valued pragmas. Schema `main`.

mod read;

use crate::{
    AccessPolicy, Introspection, IntrospectionScope, ObjectSink, Source, SourceError, SourceLimits,
    within,
};
use schemata_core::SqliteFile;
use sqlx::{ConnectOptions, Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use std::time::Duration;

/// The schema every SQLite object lives in.
pub const SCHEMA: &str = "main";

#[derive(Debug, Clone)]
pub struct SqliteSource {
    path: String,
    limits: SourceLimits,
    policy: AccessPolicy,
}

impl SqliteSource {
    pub fn new(file: &SqliteFile, limits: SourceLimits, policy: AccessPolicy) -> Self {
        Self {
            path: file.path.clone(),
            limits,
            policy,
        }
    }

    /// Opens the file read-only, after the policy resolved it under the root.
    async fn connect(&self) -> Result<SqliteConnection, SourceError> {
        let real = self.policy.sqlite_path(&self.path)?;
        let options = SqliteConnectOptions::new()
            .filename(real)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(self.limits.lock_timeout)
            .disable_statement_logging();
        let mut conn =
            match tokio::time::timeout(self.limits.connect_timeout, options.connect()).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(error)) => return Err(open_error(error)),
                Err(_) => return Err(SourceError::Timeout(self.limits.connect_timeout)),
            };
        // Proves the file is a database (a text file opens fine until read).
        within(self.limits.round_trip(), async {
            sqlx::query("SELECT count(*) FROM sqlite_schema")
                .execute(&mut conn)
                .await
                .map_err(open_error)
        })
        .await?;
        Ok(conn)
    }
}

/// SQLite's own words about a file it cannot open are safe and useful.
fn open_error(error: sqlx::Error) -> SourceError {
    match error {
        sqlx::Error::Database(db) => SourceError::Rejected(crate::error::bounded(db.message())),
        other => SourceError::Configuration(crate::error::bounded(&other.to_string())),
    }
}

impl Source for SqliteSource {
    async fn health(&self) -> Result<(), SourceError> {
        let conn = self.connect().await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        Ok(())
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        let mut conn = self.connect().await?;
        let result = read::read(&mut conn, scope, &self.limits, sink).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        result
    }
}
