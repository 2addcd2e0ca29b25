//! PostgreSQL sources, read from `pg_catalog` with one query per kind of object.

mod catalog;

use crate::{Introspection, IntrospectionScope, Source, SourceError, SourceLimits};
use sqlx::{ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};
use std::str::FromStr;

/// A PostgreSQL database reached with one short-lived connection per operation.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    options: PgConnectOptions,
    limits: SourceLimits,
}

impl PostgresSource {
    pub fn new(url: &str, limits: SourceLimits) -> Result<Self, SourceError> {
        let statement_timeout_ms = limits.statement_timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| SourceError::Configuration(e.to_string()))?
            .application_name("schemata")
            // Every session is read-only and bounded, whatever the user's role allows.
            .options([
                ("default_transaction_read_only", "on"),
                ("statement_timeout", statement_timeout_ms.as_str()),
                ("lock_timeout", "5000"),
            ])
            .disable_statement_logging();
        Ok(Self { options, limits })
    }

    async fn connect(&self) -> Result<PgConnection, SourceError> {
        match tokio::time::timeout(self.limits.connect_timeout, self.options.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(SourceError::from_sqlx(error)),
            Err(_) => Err(SourceError::ConnectTimeout(self.limits.connect_timeout)),
        }
    }
}

impl Source for PostgresSource {
    async fn health(&self) -> Result<(), SourceError> {
        let mut conn = self.connect().await?;
        let probe = tokio::time::timeout(
            self.limits.connect_timeout,
            sqlx::query("SELECT 1").execute(&mut conn),
        )
        .await;
        let _ = conn.close().await;
        match probe {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(SourceError::from_query(error)),
            Err(_) => Err(SourceError::ConnectTimeout(self.limits.connect_timeout)),
        }
    }

    async fn introspect(&self, scope: &IntrospectionScope) -> Result<Introspection, SourceError> {
        let mut conn = self.connect().await?;
        let introspection = catalog::read(&mut conn, scope).await;
        let _ = conn.close().await;
        introspection
    }
}
