//! SQLite sources: a file under `SCHEMATA_SQLITE_ROOT`, opened read-only (never
//! created), read with SQLite's table-valued pragmas. Schema `main`.

mod read;

use crate::records::{MAX_BYTES, Sample, base64, double_quoted};
use crate::{
    AccessPolicy, Introspection, IntrospectionScope, ObjectSink, Source, SourceError, SourceLimits,
    within,
};
use futures::TryStreamExt;
use schemata_core::{FieldType, SchemaObject, SqliteFile};
use serde_json::{Map, Value, json};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use sqlx::{ConnectOptions, Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

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

    /// Opens the file read-only, after the policy resolved it under the root,
    /// with the guard that interrupts whatever it runs once dropped.
    async fn connect(&self) -> Result<(SqliteConnection, Interrupt), SourceError> {
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
        let interrupt = Interrupt::install(&mut conn).await?;
        // Proves the file is a database (a text file opens fine until read).
        within(self.limits.round_trip(), async {
            sqlx::query("SELECT count(*) FROM sqlite_schema")
                .execute(&mut conn)
                .await
                .map_err(open_error)
        })
        .await?;
        Ok((conn, interrupt))
    }
}

/// SQLite runs a query on a thread of its own, which a client-side timeout
/// does not stop: a runaway view would keep a core busy long after the
/// request gave up. A progress handler checks this flag every thousand
/// instructions, and dropping the guard (the operation finished, or its
/// deadline dropped it) raises the flag and interrupts the query.
struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    async fn install(conn: &mut SqliteConnection) -> Result<Self, SourceError> {
        let raised = Arc::new(AtomicBool::new(false));
        let flag = raised.clone();
        conn.lock_handle()
            .await
            .map_err(open_error)?
            .set_progress_handler(1000, move || !flag.load(Ordering::Relaxed));
        Ok(Self(raised))
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
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
        let (conn, _interrupt) = self.connect().await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        Ok(())
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        let (mut conn, interrupt) = self.connect().await?;
        let result = async {
            let _interrupt = interrupt;
            read::read(&mut conn, scope, &self.limits, sink).await
        }
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        result
    }

    async fn sample(
        &self,
        object: &SchemaObject,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let (mut conn, interrupt) = self.connect().await?;
        // Past the deadline the sample is dropped, and with it the guard.
        let result = within(self.limits.round_trip(), async {
            let _interrupt = interrupt;
            sample(&mut conn, object, limit).await
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        result
    }
}

/// A live sample, each value rendered by its storage class.
async fn sample(
    conn: &mut SqliteConnection,
    object: &SchemaObject,
    limit: u32,
) -> Result<Vec<Value>, SourceError> {
    // The cached columns, each left out (NULL) when its row is past the
    // sample's size, which comes last: a huge value is never loaded.
    let columns: Vec<String> = object
        .fields
        .iter()
        .map(|f| double_quoted(&f.name))
        .collect();
    let row_bytes = columns
        .iter()
        .map(|c| format!("coalesce(length({c}), 0)"))
        .collect::<Vec<_>>()
        .join(" + ");
    let row_bytes = if row_bytes.is_empty() {
        "0".to_owned()
    } else {
        row_bytes
    };
    let guarded: Vec<String> = columns
        .iter()
        .map(|c| format!("CASE WHEN {row_bytes} > {MAX_BYTES} THEN NULL ELSE {c} END AS {c}"))
        .collect();
    let sql = format!(
        "SELECT {}{}{row_bytes} FROM {} LIMIT ?",
        guarded.join(", "),
        if guarded.is_empty() { "" } else { ", " },
        double_quoted(&object.name)
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(limit))
        .fetch(&mut *conn);
    let mut sample = Sample::default();
    while let Some(row) = rows.try_next().await.map_err(SourceError::from_query)? {
        let measured: i64 = row
            .try_get(columns.len())
            .map_err(SourceError::from_query)?;
        if usize::try_from(measured).unwrap_or(usize::MAX) > MAX_BYTES {
            return Err(Sample::row_too_large(measured));
        }
        let mut rendered = Map::new();
        let mut bytes = 0;
        for (i, column) in row.columns().iter().enumerate().take(columns.len()) {
            let raw = row.try_get_raw(i).map_err(SourceError::from_query)?;
            let class = if raw.is_null() {
                "NULL".to_owned()
            } else {
                raw.type_info().name().to_owned()
            };
            let is_json = object
                .fields
                .iter()
                .any(|f| f.name == column.name() && f.field_type == FieldType::Json);
            let value = match class.as_str() {
                "NULL" => Value::Null,
                "INTEGER" => json!(row.try_get::<i64, _>(i).map_err(SourceError::from_query)?),
                "REAL" => json!(row.try_get::<f64, _>(i).map_err(SourceError::from_query)?),
                "BLOB" => {
                    let blob: Vec<u8> = row.try_get(i).map_err(SourceError::from_query)?;
                    bytes += blob.len();
                    base64(&blob)
                }
                _ => {
                    let text: String = row.try_get(i).map_err(SourceError::from_query)?;
                    bytes += text.len();
                    match is_json.then(|| serde_json::from_str(&text)) {
                        Some(Ok(parsed)) => parsed,
                        _ => Value::String(text),
                    }
                }
            };
            rendered.insert(column.name().to_owned(), value);
        }
        sample.push(Value::Object(rendered), bytes)?;
    }
    Ok(sample.into_rows())
}
