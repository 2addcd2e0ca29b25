//! MySQL and MariaDB sources, read from `information_schema`: one query per
//! catalog table, each restricted with `TABLE_SCHEMA IN (…)` (joining
//! information_schema views to each other is slow on MariaDB), joined in memory.

mod assemble;
mod privileges;
mod read;
mod scope;

use crate::records::{MAX_BYTES, Sample, backticked, parse_row};
use crate::{
    AccessPolicy, Introspection, IntrospectionScope, ObjectSink, Source, SourceError, SourceLimits,
    within,
};
use futures::TryStreamExt;
use schemata_core::{FieldType, NetworkEndpoint, SchemaObject, TlsMode};
use sqlx::{
    ConnectOptions, Connection, MySqlConnection,
    mysql::{MySqlConnectOptions, MySqlSslMode},
};
use sqlx_core::net::CONNECT_GUARD;
use std::time::Duration;

/// A MySQL or MariaDB server reached with one short-lived connection per operation.
#[derive(Debug, Clone)]
pub struct MySqlSource {
    options: MySqlConnectOptions,
    database: Option<String>,
    limits: SourceLimits,
    policy: AccessPolicy,
}

/// Which dialect the server speaks, for the few settings that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    MySql,
    MariaDb,
}

impl MySqlSource {
    pub fn new(endpoint: &NetworkEndpoint, limits: SourceLimits, policy: AccessPolicy) -> Self {
        let limits = limits.narrowed_by(&endpoint.session);
        // MySqlConnectOptions::new() reads no environment (no MYSQL_PWD, no option
        // files); every field a tenant may set is set here and nothing else.
        let mut options = MySqlConnectOptions::new()
            .host(&endpoint.host)
            .port(endpoint.port)
            .username(&endpoint.user)
            .ssl_mode(ssl_mode(endpoint.tls))
            .charset("utf8mb4")
            .enable_cleartext_plugin(false)
            .disable_statement_logging();
        if let Some(password) = &endpoint.password {
            options = options.password(password);
        }
        if let Some(database) = &endpoint.database {
            options = options.database(database);
        }
        if let Some(pem) = &endpoint.ca_certificate {
            options = options.ssl_ca_from_pem(pem.as_bytes().to_vec());
        }
        Self {
            options,
            database: endpoint.database.clone(),
            limits,
            policy,
        }
    }

    /// Connects through the access policy, within the connect timeout, and
    /// makes the session read-only with bounded statements and lock waits.
    async fn connect(&self) -> Result<(MySqlConnection, Flavor), SourceError> {
        let guard = self.policy.connect_guard(self.database.as_deref());
        let connecting = CONNECT_GUARD.scope(guard, self.options.connect());
        let mut conn = match tokio::time::timeout(self.limits.connect_timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => return Err(SourceError::from_connect(error)),
            Err(_) => return Err(SourceError::Unreachable),
        };
        let deadline = self.limits.round_trip();
        let version: String = within(deadline, async {
            sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&mut conn)
                .await
                .map_err(SourceError::from_query)
        })
        .await?;
        let flavor = if version.contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        let statement_ms = self.limits.statement_timeout.as_millis();
        let lock_secs = self.limits.lock_timeout.as_secs().max(1);
        let timeout = match flavor {
            Flavor::MariaDb => format!(
                "SET SESSION max_statement_time = {}",
                statement_ms as f64 / 1000.0
            ),
            Flavor::MySql => format!("SET SESSION max_execution_time = {statement_ms}"),
        };
        for setting in [
            "SET SESSION TRANSACTION READ ONLY".to_owned(),
            timeout,
            format!("SET SESSION lock_wait_timeout = {lock_secs}"),
        ] {
            within(deadline, async {
                sqlx::raw_sql(sqlx::AssertSqlSafe(setting))
                    .execute(&mut conn)
                    .await
                    .map_err(SourceError::from_query)
            })
            .await?;
        }
        Ok((conn, flavor))
    }

    async fn with_session<T>(
        &self,
        work: impl AsyncFnOnce(&mut MySqlConnection, Flavor) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let (mut conn, flavor) = self.connect().await?;
        let result = work(&mut conn, flavor).await;
        if !matches!(result, Err(SourceError::Timeout(_))) {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
        result
    }
}

fn ssl_mode(tls: Option<TlsMode>) -> MySqlSslMode {
    match tls {
        None | Some(TlsMode::Prefer | TlsMode::Allow) => MySqlSslMode::Preferred,
        Some(TlsMode::Disable) => MySqlSslMode::Disabled,
        Some(TlsMode::Require) => MySqlSslMode::Required,
        Some(TlsMode::VerifyCa) => MySqlSslMode::VerifyCa,
        Some(TlsMode::VerifyFull) => MySqlSslMode::VerifyIdentity,
    }
}

impl Source for MySqlSource {
    async fn health(&self) -> Result<(), SourceError> {
        self.with_session(async |_, _| Ok(())).await
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        self.with_session(async |conn, flavor| {
            read::read(
                conn,
                flavor,
                scope,
                &self.limits,
                self.database.as_deref(),
                sink,
            )
            .await
        })
        .await
    }

    async fn sample(
        &self,
        object: &SchemaObject,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        self.with_session(async |conn, _| sample(conn, object, limit, &self.limits).await)
            .await
    }
}

/// A live sample: MySQL renders each row with `JSON_OBJECT` (keys bound as
/// parameters), binary as base64 and spatial values as WKT.
async fn sample(
    conn: &mut MySqlConnection,
    object: &SchemaObject,
    limit: u32,
    limits: &SourceLimits,
) -> Result<Vec<serde_json::Value>, SourceError> {
    let mut pairs = Vec::new();
    for field in &object.fields {
        let column = backticked(&field.name);
        let remote = field.remote_type.to_ascii_lowercase();
        let value = if field.field_type == FieldType::Binary && !remote.starts_with("bit") {
            format!("TO_BASE64({column})")
        } else if remote.starts_with("bit") {
            format!("CAST({column} AS UNSIGNED)")
        } else if remote.contains("point")
            || remote.contains("polygon")
            || remote.contains("linestring")
            || remote.starts_with("geometry")
            || remote.starts_with("geomcollection")
        {
            format!("ST_AsText({column})")
        } else if field.field_type == FieldType::Json {
            format!("JSON_EXTRACT({column}, '$')")
        } else {
            column
        };
        pairs.push(format!("?, {value}"));
    }
    // The server measures each row first and does not send one past the
    // sample's size.
    let sql = format!(
        "SELECT IF(LENGTH(j) <= ?, j, NULL), CAST(LENGTH(j) AS SIGNED)
         FROM (SELECT CAST(JSON_OBJECT({}) AS CHAR) AS j FROM {}.{} LIMIT ?) AS sampled",
        pairs.join(", "),
        backticked(&object.schema),
        backticked(&object.name)
    );
    within(limits.round_trip(), async {
        let mut query = sqlx::query_as::<_, (Option<String>, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(MAX_BYTES).unwrap_or(i64::MAX));
        for field in &object.fields {
            query = query.bind(&field.name);
        }
        let mut rows = query.bind(limit).fetch(&mut *conn);
        let mut sample = Sample::default();
        while let Some((text, bytes)) = rows.try_next().await.map_err(SourceError::from_query)? {
            let text = text.ok_or_else(|| Sample::row_too_large(bytes))?;
            let mut row = parse_row(&text)?;
            as_the_cache_types_them(object, &mut row);
            sample.push(serde_json::Value::Object(row), text.len())?;
        }
        Ok(sample.into_rows())
    })
    .await
}

/// Values as the cached types promise them: `tinyint(1)` and `bit(1)` as
/// booleans, `SET` as an array, date-times in ISO 8601 (`TIMESTAMP` in UTC,
/// the session's zone, with its `Z`; `DATETIME` has no zone).
fn as_the_cache_types_them(
    object: &SchemaObject,
    row: &mut serde_json::Map<String, serde_json::Value>,
) {
    use serde_json::Value;
    for field in &object.fields {
        let Some(value) = row.get_mut(&field.name) else {
            continue;
        };
        let remote = field.remote_type.to_ascii_lowercase();
        match (field.field_type, &*value) {
            (FieldType::Boolean, Value::Number(n)) => *value = Value::Bool(n.as_f64() != Some(0.0)),
            (FieldType::Array, Value::String(text)) if remote.starts_with("set(") => {
                *value = Value::Array(
                    text.split(',')
                        .filter(|member| !member.is_empty())
                        .map(|member| Value::String(member.to_owned()))
                        .collect(),
                );
            }
            (FieldType::Datetime, Value::String(text)) if text.len() >= 19 => {
                let mut iso = text.replacen(' ', "T", 1);
                if remote.starts_with("timestamp") {
                    iso.push('Z');
                }
                *value = Value::String(iso);
            }
            _ => {}
        }
    }
}
