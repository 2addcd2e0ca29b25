//! Snowflake sources: one database of an account, read over Snowflake's own
//! connector protocol (no driver to link) in a session opened per operation.
//!
//! Snowflake has no read-only session: Schemata sends only `SHOW` and
//! `SELECT` statements of fixed text, with every name quoted, under a
//! server-side `STATEMENT_TIMEOUT_IN_SECONDS` and a client-side deadline per
//! round trip. `SHOW` runs in the cloud services layer (no warehouse, no
//! credits); `INFORMATION_SCHEMA` and samples run on the warehouse (see
//! docs/api.md, "Snowflake").

mod client;
mod keypair;
mod read;
mod results;

use crate::records::Sample;
use crate::{
    AccessPolicy, Introspection, IntrospectionScope, ObjectSink, Source, SourceError, SourceLimits,
};
use client::{Client, Session};
use read::quoted;
use schemata_core::{SchemaObject, SnowflakeAccount, source_config::resolve_identifier};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Schemas the health check's answer may list.
const HEALTH_ROWS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct SnowflakeSource {
    client: Arc<Client>,
    /// The database's exact name (unquoted names fold to upper case).
    database: String,
    limits: SourceLimits,
}

impl SnowflakeSource {
    pub fn new(
        config: &SnowflakeAccount,
        limits: SourceLimits,
        policy: AccessPolicy,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            client: Arc::new(Client::new(
                config,
                policy,
                limits.round_trip(),
                limits.statement_timeout,
            )?),
            database: resolve_identifier(&config.database),
            limits,
        })
    }

    /// Runs `work` in a fresh session and ends the session, whatever happened.
    async fn with_session<T>(
        &self,
        work: impl AsyncFnOnce(&Session<'_>) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let session = self.client.login().await?;
        let result = work(&session).await;
        session.close().await;
        result
    }
}

impl Source for SnowflakeSource {
    /// A login and `SHOW TERSE SCHEMAS` (metadata only: no warehouse runs),
    /// which also proves the role may see the database.
    async fn health(&self) -> Result<(), SourceError> {
        self.with_session(async |session| {
            session
                .query(
                    &format!("SHOW TERSE SCHEMAS IN DATABASE {}", quoted(&self.database)),
                    HEALTH_ROWS,
                )
                .await
                .map_err(|error| match error {
                    SourceError::Query(words) => SourceError::Rejected(words),
                    other => other,
                })?;
            Ok(())
        })
        .await
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        self.with_session(async |session| {
            read::read(session, &self.database, scope, &self.limits, sink).await
        })
        .await
    }

    /// `SELECT <cached columns> … LIMIT n`, each value in the cache's type.
    async fn sample(&self, object: &SchemaObject, limit: u32) -> Result<Vec<Value>, SourceError> {
        let columns = if object.fields.is_empty() {
            "*".to_owned()
        } else {
            object
                .fields
                .iter()
                .map(|f| quoted(&f.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT {columns} FROM {}.{}.{} LIMIT {limit}",
            quoted(&self.database),
            quoted(&object.schema),
            quoted(&object.name)
        );
        let answer = self
            .with_session(async |session| session.query(&sql, limit as usize).await)
            .await?;
        let mut sample = Sample::default();
        for row in &answer.rows {
            let record: Map<String, Value> = answer
                .columns
                .iter()
                .zip(row)
                .map(|(column, value)| (column.name.clone(), value.clone()))
                .collect();
            let weight = Value::Object(record.clone()).to_string().len();
            sample.push(Value::Object(record), weight)?;
        }
        Ok(sample.into_rows())
    }
}
