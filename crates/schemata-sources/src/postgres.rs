//! PostgreSQL sources, read from `pg_catalog` with one query per kind of object.

mod assemble;
mod changes;
mod queries;
mod read;

use crate::records::{MAX_BYTES, Sample, double_quoted, hex_binary_to_base64, parse_row};
use crate::{
    AccessPolicy, Introspection, IntrospectionScope, ObjectSink, Source, SourceError, SourceLimits,
    within,
};
use futures::TryStreamExt;
use schemata_core::{NetworkEndpoint, SchemaObject, TlsMode};
use sqlx::{
    ConnectOptions, Connection, PgConnection, Row,
    postgres::{PgConnectOptions, PgSslMode},
};
use sqlx_core::net::CONNECT_GUARD;
use std::time::Duration;

/// A PostgreSQL database reached with one short-lived connection per operation.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    options: PgConnectOptions,
    database: Option<String>,
    limits: SourceLimits,
    policy: AccessPolicy,
}

impl PostgresSource {
    pub fn new(endpoint: &NetworkEndpoint, limits: SourceLimits, policy: AccessPolicy) -> Self {
        let limits = limits.narrowed_by(&endpoint.session);
        let statement_timeout_ms = limits.statement_timeout.as_millis().to_string();
        let lock_timeout_ms = limits.lock_timeout.as_millis().to_string();
        // Built field by field from nothing: never from the process environment
        // (PGUSER, PGPASSWORD, ~/.pgpass, PGSSLCERT…) and never from a URL string.
        let mut options = PgConnectOptions::isolated()
            .host(&endpoint.host)
            .port(endpoint.port)
            .username(&endpoint.user)
            .ssl_mode(ssl_mode(endpoint.tls))
            .application_name("schemata")
            // Every session is read-only and bounded, whatever the user's role allows.
            .options([
                ("default_transaction_read_only", "on"),
                ("statement_timeout", statement_timeout_ms.as_str()),
                ("lock_timeout", lock_timeout_ms.as_str()),
                // Catalog queries are short: compiling them costs more than it saves.
                ("jit", "off"),
                // Chunks of a read bind arrays of a thousand oids: planning each
                // execution for its values cost more than the plan saved.
                ("plan_cache_mode", "force_generic_plan"),
            ])
            .disable_statement_logging();
        if let Some(password) = &endpoint.password {
            options = options.password(password);
        }
        if let Some(pem) = &endpoint.ca_certificate {
            options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
        }
        if let Some(database) = &endpoint.database {
            options = options.database(database);
        }
        Self {
            options,
            database: endpoint.effective_database().map(str::to_owned),
            limits,
            policy,
        }
    }

    /// Connects through the access policy, within the connect timeout.
    async fn connect(&self) -> Result<PgConnection, SourceError> {
        let guard = self.policy.connect_guard(self.database.as_deref());
        let connecting = CONNECT_GUARD.scope(guard, self.options.connect());
        match tokio::time::timeout(self.limits.connect_timeout, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(SourceError::from_connect(error)),
            Err(_) => {
                tracing::info!(
                    timeout_s = self.limits.connect_timeout.as_secs(),
                    "source did not complete the connection in time"
                );
                Err(SourceError::Unreachable)
            }
        }
    }

    /// Runs `work` on a fresh session and always ends it, politely if it answers.
    async fn with_session<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let mut conn = self.connect().await?;
        let result = work(&mut conn).await;
        if !matches!(result, Err(SourceError::Timeout(_))) {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
        result
    }
}

/// Refuses a session that landed in Schemata's own database, or (unless the
/// policy allows sources there) on the server that holds it.
pub(crate) fn refuse_own_database(
    marker: Option<String>,
    policy: &AccessPolicy,
) -> Result<(), SourceError> {
    match marker.as_deref() {
        Some(MARKED_SERVER) if policy.allows_sources_on_own_server() => Ok(()),
        Some(MARKED_SERVER) => {
            tracing::warn!(
                "source session landed on the server of a Schemata database; refused by policy"
            );
            Err(SourceError::Refused)
        }
        Some(instance) if !instance.is_empty() => {
            tracing::warn!("source session landed in a Schemata database; refused by policy");
            Err(SourceError::Refused)
        }
        _ => Ok(()),
    }
}

/// What the marker query says of a session on a server one of whose other
/// databases is Schemata's (see `queries::own_database_marker`).
const MARKED_SERVER: &str = "server";

fn ssl_mode(tls: Option<TlsMode>) -> PgSslMode {
    match tls {
        None | Some(TlsMode::Prefer) => PgSslMode::Prefer,
        Some(TlsMode::Disable) => PgSslMode::Disable,
        Some(TlsMode::Allow) => PgSslMode::Allow,
        Some(TlsMode::Require) => PgSslMode::Require,
        Some(TlsMode::VerifyCa) => PgSslMode::VerifyCa,
        Some(TlsMode::VerifyFull) => PgSslMode::VerifyFull,
    }
}

impl Source for PostgresSource {
    async fn health(&self) -> Result<(), SourceError> {
        let round_trip = self.limits.round_trip().min(self.limits.connect_timeout);
        self.with_session(async |conn| {
            let marker = within(round_trip, async {
                let row = sqlx::raw_sql(queries::MARKER)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(SourceError::from_query)?;
                row.try_get::<Option<String>, _>(0)
                    .map_err(SourceError::from_query)
            })
            .await?;
            refuse_own_database(marker, &self.policy)
        })
        .await
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        self.with_session(async |conn| {
            read::read(conn, scope, &self.limits, &self.policy, sink).await
        })
        .await
    }

    async fn sample(
        &self,
        object: &SchemaObject,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        self.with_session(async |conn| {
            sample(conn, object, limit, &self.limits, &self.policy).await
        })
        .await
    }
}

/// A live sample of an object's rows, each rendered by PostgreSQL's own
/// `row_to_json` (numerics stay exact, dates ISO), binary turned to base64.
/// The server measures each row first and does not send one past the
/// sample's size: a 1 GB value stays on the source.
async fn sample(
    conn: &mut PgConnection,
    object: &SchemaObject,
    limit: u32,
    limits: &SourceLimits,
    policy: &AccessPolicy,
) -> Result<Vec<serde_json::Value>, SourceError> {
    let deadline = limits.round_trip();
    let opened = within(deadline, async {
        sqlx::raw_sql(queries::SAMPLE_BEGIN)
            .fetch_one(&mut *conn)
            .await
            .map_err(SourceError::from_query)
    })
    .await?;
    refuse_own_database(opened.try_get(0).map_err(SourceError::from_query)?, policy)?;
    // `alias.*` is the whole row even when a column has the alias's name.
    let sql = format!(
        "SELECT CASE WHEN octet_length(j) <= $2 THEN j END, octet_length(j)::int8
         FROM (SELECT row_to_json(schemata_row.*)::text AS j
               FROM {}.{} AS schemata_row LIMIT $1) AS sampled",
        double_quoted(&object.schema),
        double_quoted(&object.name)
    );
    let rows = within(deadline, async {
        let mut rows = sqlx::query_as::<_, (Option<String>, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .bind(i64::try_from(MAX_BYTES).unwrap_or(i64::MAX))
            .fetch(&mut *conn);
        let mut sample = Sample::default();
        while let Some((text, bytes)) = rows.try_next().await.map_err(SourceError::from_query)? {
            let text = text.ok_or_else(|| Sample::row_too_large(bytes))?;
            let mut row = parse_row(&text)?;
            hex_binary_to_base64(object, &mut row);
            sample.push(serde_json::Value::Object(row), text.len())?;
        }
        Ok(sample.into_rows())
    })
    .await;
    if !matches!(rows, Err(SourceError::Timeout(_))) {
        let _ = within(deadline, async {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut *conn)
                .await
                .map_err(SourceError::from_query)
        })
        .await;
    }
    rows
}
