use crate::{SourceError, postgres::PostgresSource};
use schemata_core::{
    RefreshFailure, RefreshOptions, SchemaFilter, Snapshot, SourceKind, TableAllowlist,
};
use std::time::Duration;

/// Bounds on every conversation with a source.
#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// What part of a source to introspect: the connection's filters, narrowed by
/// the refresh's own `schemas`/`tables` when it is partial.
#[derive(Debug, Clone, Default)]
pub struct IntrospectionScope {
    pub schema_filter: SchemaFilter,
    pub table_allowlist: TableAllowlist,
    pub options: RefreshOptions,
}

/// A snapshot and the objects that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    pub snapshot: Snapshot,
    pub failures: Vec<RefreshFailure>,
}

/// A source database: check it, read its schema.
pub trait Source {
    /// Proves the source accepts our credentials and answers a query.
    fn health(&self) -> impl Future<Output = Result<(), SourceError>> + Send;
    /// Reads the schema inside one read-only transaction.
    fn introspect(
        &self,
        scope: &IntrospectionScope,
    ) -> impl Future<Output = Result<Introspection, SourceError>> + Send;
}

/// One of the supported kinds, chosen at run time from the connection's type.
#[derive(Debug, Clone)]
pub enum AnySource {
    Postgres(PostgresSource),
}

/// Prepares a source for `kind` at `url`; connects lazily, on first use.
pub fn connect(
    kind: SourceKind,
    url: &str,
    limits: SourceLimits,
) -> Result<AnySource, SourceError> {
    match kind {
        SourceKind::Postgresql => Ok(AnySource::Postgres(PostgresSource::new(url, limits)?)),
        other => Err(SourceError::Unsupported(other.to_string())),
    }
}

impl Source for AnySource {
    async fn health(&self) -> Result<(), SourceError> {
        match self {
            Self::Postgres(source) => source.health().await,
        }
    }

    async fn introspect(&self, scope: &IntrospectionScope) -> Result<Introspection, SourceError> {
        match self {
            Self::Postgres(source) => source.introspect(scope).await,
        }
    }
}
