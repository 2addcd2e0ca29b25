use crate::{
    AccessPolicy, SourceError, SourceLimits, dynamodb::DynamoDbSource, mysql::MySqlSource,
    postgres::PostgresSource, snowflake::SnowflakeSource, sqlite::SqliteSource,
};
use futures::future::{BoxFuture, FutureExt, Shared};
use schemata_core::{
    RefreshFailure, RefreshOptions, SchemaFilter, SchemaId, SchemaObject, SourceConfig, SourceKind,
    TableAllowlist,
};
use serde_json::Value;
use std::{collections::HashMap, sync::Arc};

/// What part of a source to introspect: the connection's filters, narrowed by
/// the refresh's own `schemas`/`tables` when it is partial, and what the cache
/// already knows.
#[derive(Debug, Clone, Default)]
pub struct IntrospectionScope {
    pub schema_filter: SchemaFilter,
    pub table_allowlist: TableAllowlist,
    pub options: RefreshOptions,
    pub known: Known,
}

/// What a refresh already knows, so a source that can tell what changed in
/// its catalog reads only that.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The catalog state the source returned at the last refresh (its own format).
    pub catalog_state: Option<Value>,
    /// The cached objects, each with the objects its foreign keys point at.
    pub cached: CachedGraph,
    /// The cache holds objects the source's last listing did not have (a
    /// soft refresh kept them): a hard refresh lists the scope even when the
    /// catalog state says nothing changed, so that they go.
    pub cache_keeps_unlisted: bool,
}

/// The cached objects and what their foreign keys point at, as the refresh
/// loads them alongside the read: a source that finds nothing changed never
/// waits for it.
#[derive(Clone)]
pub struct CachedGraph(Shared<BoxFuture<'static, Arc<Graph>>>);

/// Each cached object, with the objects its foreign keys point at.
pub type Graph = HashMap<SchemaId, Vec<SchemaId>>;

impl CachedGraph {
    pub fn ready(graph: Graph) -> Self {
        Self::loading(async move { graph })
    }

    /// A graph still being loaded; a load that fails yields an empty graph (the
    /// refresh reports the failure on its own).
    pub fn loading(graph: impl Future<Output = Graph> + Send + 'static) -> Self {
        Self(graph.map(Arc::new).boxed().shared())
    }

    pub async fn get(&self) -> Arc<Graph> {
        self.0.clone().await
    }
}

impl Default for CachedGraph {
    fn default() -> Self {
        Self::ready(HashMap::new())
    }
}

impl std::fmt::Debug for CachedGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedGraph")
    }
}

/// What a refresh read.
#[derive(Debug, Clone)]
pub enum Introspection {
    /// Nothing in scope changed since `Known::catalog_state`: nothing was read.
    Unchanged,
    Read(Listing),
}

/// What a refresh read, besides the objects it sent to its sink.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every object in scope now: read in full (and sent), known unchanged, or failed.
    pub present: Vec<SchemaId>,
    /// Objects that could not be read; their cached version is kept.
    pub failures: Vec<RefreshFailure>,
    /// What to store for the next refresh; `None` keeps what is stored.
    pub catalog_state: Option<Value>,
}

/// Where a source sends the objects it reads in full (normalized), in batches,
/// as it reads them: the worker writes them while the source reads on, and no
/// one holds a whole large catalog in memory.
pub type ObjectSink = tokio::sync::mpsc::Sender<Vec<SchemaObject>>;

/// Sends a batch; a sink whose receiver is gone means the refresh was abandoned.
pub async fn send(sink: &ObjectSink, batch: Vec<SchemaObject>) -> Result<(), SourceError> {
    if batch.is_empty() {
        return Ok(());
    }
    sink.send(batch)
        .await
        .map_err(|_| SourceError::Query("the refresh was abandoned while reading".into()))
}

/// Runs an introspection and gathers everything it sends: for callers that
/// want the objects in hand (tests, benchmarks, small reads).
pub async fn introspect_all(
    source: &impl Source,
    scope: &IntrospectionScope,
) -> Result<(Introspection, Vec<SchemaObject>), SourceError> {
    let (sink, mut batches) = tokio::sync::mpsc::channel(4);
    let gathering = async move {
        let mut objects = Vec::new();
        while let Some(batch) = batches.recv().await {
            objects.extend(batch);
        }
        objects
    };
    let (introspection, objects) = tokio::join!(source.introspect(scope, sink), gathering);
    Ok((introspection?, objects))
}

/// A source database: check it, read its schema.
pub trait Source {
    /// Proves the source accepts our credentials and answers a query.
    fn health(&self) -> impl Future<Output = Result<(), SourceError>> + Send;
    /// Reads the schema inside one read-only transaction, sending the objects
    /// it reads in full to `sink` (dropped when the read ends).
    fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> impl Future<Output = Result<Introspection, SourceError>> + Send;
    /// Reads up to `limit` rows of a cached object, as JSON objects.
    fn sample(
        &self,
        object: &SchemaObject,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Value>, SourceError>> + Send;
}

/// One of the supported kinds, chosen at run time from the connection's type.
#[derive(Debug, Clone)]
pub enum AnySource {
    Postgres(PostgresSource),
    MySql(MySqlSource),
    Sqlite(SqliteSource),
    DynamoDb(DynamoDbSource),
    Snowflake(SnowflakeSource),
}

/// Whether this build can read sources of `kind`.
pub fn supports(kind: SourceKind) -> bool {
    matches!(
        kind,
        SourceKind::Postgresql
            | SourceKind::Mysql
            | SourceKind::Sqlite
            | SourceKind::Dynamodb
            | SourceKind::Snowflake
    )
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
        (SourceKind::Mysql, SourceConfig::Network(endpoint)) => Ok(AnySource::MySql(
            MySqlSource::new(endpoint, limits, policy.clone()),
        )),
        (SourceKind::Sqlite, SourceConfig::Sqlite(file)) => Ok(AnySource::Sqlite(
            SqliteSource::new(file, limits, policy.clone()),
        )),
        (SourceKind::Dynamodb, SourceConfig::DynamoDb(endpoint)) => Ok(AnySource::DynamoDb(
            DynamoDbSource::new(endpoint, limits, policy.clone())?,
        )),
        (SourceKind::Snowflake, SourceConfig::Snowflake(account)) => Ok(AnySource::Snowflake(
            SnowflakeSource::new(account, limits, policy.clone())?,
        )),
        (SourceKind::Postgresql | SourceKind::Mysql, _) => Err(SourceError::Configuration(
            "this connection needs a host".into(),
        )),
        (other, _) => Err(SourceError::Unsupported(other.to_string())),
    }
}

impl Source for AnySource {
    async fn health(&self) -> Result<(), SourceError> {
        match self {
            Self::Postgres(source) => source.health().await,
            Self::MySql(source) => source.health().await,
            Self::Sqlite(source) => source.health().await,
            Self::DynamoDb(source) => source.health().await,
            Self::Snowflake(source) => source.health().await,
        }
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        match self {
            Self::Postgres(source) => source.introspect(scope, sink).await,
            Self::MySql(source) => source.introspect(scope, sink).await,
            Self::Sqlite(source) => source.introspect(scope, sink).await,
            Self::DynamoDb(source) => source.introspect(scope, sink).await,
            Self::Snowflake(source) => source.introspect(scope, sink).await,
        }
    }

    async fn sample(&self, object: &SchemaObject, limit: u32) -> Result<Vec<Value>, SourceError> {
        let limit = limit.clamp(1, crate::records::MAX_LIMIT);
        match self {
            Self::Postgres(source) => source.sample(object, limit).await,
            Self::MySql(source) => source.sample(object, limit).await,
            Self::Sqlite(source) => source.sample(object, limit).await,
            Self::DynamoDb(source) => source.sample(object, limit).await,
            Self::Snowflake(source) => source.sample(object, limit).await,
        }
    }
}
