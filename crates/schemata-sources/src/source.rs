use crate::{AccessPolicy, SourceError, SourceLimits, postgres::PostgresSource};
use schemata_core::{
    RefreshFailure, RefreshOptions, SchemaFilter, Snapshot, SourceConfig, SourceKind,
    TableAllowlist,
};

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

/// Whether this build can read sources of `kind`.
pub fn supports(kind: SourceKind) -> bool {
    matches!(kind, SourceKind::Postgresql)
}

/// Prepares the source a configuration describes; connects lazily, on first use,
/// and only to destinations `policy` allows.
pub fn connect(
    kind: SourceKind,
    config: &SourceConfig,
    limits: SourceLimits,
    policy: &AccessPolicy,
) -> Result<AnySource, SourceError> {
    match (kind, config) {
        (SourceKind::Postgresql, SourceConfig::Network(endpoint)) => Ok(AnySource::Postgres(
            PostgresSource::new(endpoint, limits, policy.clone()),
        )),
        (SourceKind::Postgresql, _) => Err(SourceError::Configuration(
            "a postgresql connection needs a host".into(),
        )),
        (other, _) => Err(SourceError::Unsupported(other.to_string())),
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
