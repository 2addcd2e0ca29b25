//! The cached snapshot: one row per object, its fields included as JSON, with
//! a hash of its content. Refreshes rewrite only the objects that changed, in
//! the transaction that closes their run.

use crate::StoreError;
use schemata_core::{CacheScope, ObjectKind, SchemaId, SchemaObject, StoredForm, schema_version};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

/// Objects written per INSERT, to bound the memory a large write holds.
const BATCH: usize = 1000;

/// What the cache knows of one object without loading its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEntry {
    pub kind: ObjectKind,
    pub field_count: i32,
    pub content_hash: String,
    /// The objects its foreign keys point at.
    pub references: Vec<SchemaId>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    schema_name: String,
    name: String,
    kind: String,
    field_count: i32,
    content_hash: String,
    references: Vec<String>,
}

/// Every cached object of a connection, by id.
pub async fn index(
    conn: &mut PgConnection,
    connection_id: Uuid,
) -> Result<HashMap<SchemaId, CachedEntry>, StoreError> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT schema_name, name, kind, field_count, content_hash, refers_to AS references
         FROM schema_objects WHERE connection_id = $1",
    )
    .bind(connection_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let kind = row.kind.parse()?;
            let references = row
                .references
                .iter()
                .filter_map(|r| SchemaId::parse(r).ok())
                .collect();
            Ok((
                SchemaId::new(row.schema_name, row.name),
                CachedEntry {
                    kind,
                    field_count: row.field_count,
                    content_hash: row.content_hash,
                    references,
                },
            ))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct ObjectRow {
    pub schema_name: String,
    pub name: String,
    pub kind: String,
    pub comment: Option<String>,
    pub row_estimate: Option<i64>,
    pub partition_count: Option<i32>,
    pub primary_keys: Vec<String>,
    /// JSON text, as the worker wrote it (see `StoredForm`).
    pub fields: String,
    pub indexes: String,
    pub foreign_keys: String,
    pub unique_constraints: String,
    pub properties: String,
}

pub(crate) const OBJECT_COLUMNS: &str =
    "schema_name, name, kind, comment, row_estimate, partition_count,
    primary_keys, fields, indexes, foreign_keys, unique_constraints, properties";

impl ObjectRow {
    pub(crate) fn into_object(self) -> Result<SchemaObject, StoreError> {
        let mut object = SchemaObject::new(self.schema_name, self.name, self.kind.parse()?);
        object.comment = self.comment;
        object.row_estimate = self.row_estimate;
        object.partition_count = self.partition_count;
        object.primary_keys = self.primary_keys;
        object.fields = parse(&self.fields)?;
        object.indexes = parse(&self.indexes)?;
        object.foreign_keys = parse(&self.foreign_keys)?;
        object.unique_constraints = parse(&self.unique_constraints)?;
        object.properties = parse(&self.properties)?;
        Ok(object)
    }
}

/// The cached objects with these ids (those that exist).
pub async fn load(
    conn: &mut PgConnection,
    connection_id: Uuid,
    ids: &[SchemaId],
) -> Result<Vec<SchemaObject>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let (schemas, names) = split(ids);
    let rows: Vec<ObjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {OBJECT_COLUMNS} FROM schema_objects
         WHERE connection_id = $1 AND (schema_name, name) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))"
    )))
    .bind(connection_id)
    .bind(&schemas)
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(ObjectRow::into_object).collect()
}

/// Removes these objects from the cache.
pub async fn remove(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    ids: &[SchemaId],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let (schemas, names) = split(ids);
    sqlx::query(
        "DELETE FROM schema_objects
         WHERE connection_id = $1 AND (schema_name, name) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))",
    )
    .bind(connection_id)
    .bind(&schemas)
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts normalized objects in their stored form (the caller removed any
/// previous version first).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    objects: &[(&SchemaObject, &StoredForm)],
) -> Result<(), StoreError> {
    for batch in objects.chunks(BATCH) {
        insert_batch(tx, connection_id, batch).await?;
    }
    Ok(())
}

async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    batch: &[(&SchemaObject, &StoredForm)],
) -> Result<(), StoreError> {
    let objects = |f: &dyn for<'o> Fn(&'o SchemaObject) -> &'o str| -> Vec<&str> {
        batch.iter().map(|(o, _)| f(o)).collect()
    };
    let stored = |f: &dyn for<'s> Fn(&'s StoredForm) -> &'s str| -> Vec<&str> {
        batch.iter().map(|(_, s)| f(s)).collect()
    };
    let comments: Vec<Option<&str>> = batch.iter().map(|(o, _)| o.comment.as_deref()).collect();
    let estimates: Vec<Option<i64>> = batch.iter().map(|(o, _)| o.row_estimate).collect();
    let partitions: Vec<Option<i32>> = batch.iter().map(|(o, _)| o.partition_count).collect();
    let counts: Vec<i32> = batch
        .iter()
        .map(|(o, _)| i32::try_from(o.fields.len()).unwrap_or(i32::MAX))
        .collect();
    // Arrays of arrays must be rectangular in PostgreSQL, so lists travel as JSON.
    let keys: Vec<String> = batch
        .iter()
        .map(|(o, _)| serde_json::to_string(&o.primary_keys).unwrap_or_default())
        .collect();
    let refers_to: Vec<String> = batch
        .iter()
        .map(|(_, s)| serde_json::to_string(&s.refers_to).unwrap_or_default())
        .collect();
    sqlx::query(
        "INSERT INTO schema_objects (connection_id, schema_name, name, kind, comment, row_estimate,
             partition_count, primary_keys, fields, field_count, indexes, foreign_keys,
             unique_constraints, properties, content_hash, refers_to)
         SELECT $1, s, n, k, c, e, p, ARRAY(SELECT json_array_elements_text(pk::json)), f, fc,
                ix, fk, uq, pr, h, ARRAY(SELECT json_array_elements_text(rt::json))
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int4[], $8::text[],
                     $9::text[], $10::int4[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                     $16::text[])
              AS t(s, n, k, c, e, p, pk, f, fc, ix, fk, uq, pr, h, rt)",
    )
    .bind(connection_id)
    .bind(objects(&|o| &o.schema))
    .bind(objects(&|o| &o.name))
    .bind(objects(&|o| o.kind.as_str()))
    .bind(&comments)
    .bind(&estimates)
    .bind(&partitions)
    .bind(&keys)
    .bind(stored(&|s| &s.fields))
    .bind(&counts)
    .bind(stored(&|s| &s.indexes))
    .bind(stored(&|s| &s.foreign_keys))
    .bind(stored(&|s| &s.unique_constraints))
    .bind(stored(&|s| &s.properties))
    .bind(stored(&|s| &s.content_hash))
    .bind(&refers_to)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes the cached objects `scope` does not admit, in the transaction that
/// narrows the connection to it, and gives a versioned cache the version of
/// what is left; returns that version when it changed.
pub async fn narrow_to(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    versioned: bool,
    scope: &CacheScope,
) -> Result<Option<String>, StoreError> {
    let (schemas, names) = split(scope.table_allowlist.ids());
    let removed = sqlx::query(
        "DELETE FROM schema_objects
         WHERE connection_id = $1
           AND NOT ((cardinality($2::text[]) = 0 OR schema_name = ANY($2))
                    AND (cardinality($3::text[]) = 0
                         OR (schema_name, name) IN (SELECT * FROM UNNEST($3::text[], $4::text[]))))",
    )
    .bind(connection_id)
    .bind(scope.schema_filter.names())
    .bind(&schemas)
    .bind(&names)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if removed == 0 || !versioned {
        return Ok(None);
    }
    let kept: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT schema_name, name, content_hash FROM schema_objects WHERE connection_id = $1",
    )
    .bind(connection_id)
    .fetch_all(&mut **tx)
    .await?;
    let version = schema_version(
        kept.into_iter()
            .map(|(schema, name, hash)| (SchemaId::new(schema, name), hash)),
    );
    sqlx::query("UPDATE connections SET schema_version = $2 WHERE id = $1")
        .bind(connection_id)
        .bind(&version)
        .execute(&mut **tx)
        .await?;
    Ok(Some(version))
}

/// Records the cache's new version and what the source's catalog looked like.
pub async fn set_version(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    version: &str,
    catalog_state: Option<&Value>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE connections SET schema_version = $2, catalog_state = coalesce($3, catalog_state)
         WHERE id = $1",
    )
    .bind(connection_id)
    .bind(version)
    .bind(catalog_state)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records what the source's catalog looked like, the cache unchanged.
pub async fn set_catalog_state(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    catalog_state: &Value,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE connections SET catalog_state = $2 WHERE id = $1")
        .bind(connection_id)
        .bind(catalog_state)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The catalog state the last refresh stored, if any, and whether the cache
/// keeps objects the last listing did not have.
pub async fn catalog_state(
    conn: &mut PgConnection,
    connection_id: Uuid,
) -> Result<(Option<Value>, bool), StoreError> {
    let state: Option<(Option<Value>, bool)> =
        sqlx::query_as("SELECT catalog_state, cache_keeps_unlisted FROM connections WHERE id = $1")
            .bind(connection_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(state.unwrap_or_default())
}

/// Records whether the cache keeps objects the source's listing no longer
/// has (a soft refresh kept them); a row already saying so is not written.
pub async fn set_keeps_unlisted(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    keeps_unlisted: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE connections SET cache_keeps_unlisted = $2
         WHERE id = $1 AND cache_keeps_unlisted <> $2",
    )
    .bind(connection_id)
    .bind(keeps_unlisted)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("a cached object does not parse: {e}")))
}

fn split(ids: &[SchemaId]) -> (Vec<&str>, Vec<&str>) {
    ids.iter()
        .map(|id| (id.schema.as_str(), id.name.as_str()))
        .unzip()
}
