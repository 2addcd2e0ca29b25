//! Reading the cached schema for clients.

use crate::{
    StoreError,
    snapshots::{FIELD_COLUMNS, FieldRow},
};
use schemata_core::{Field, Index, SchemaId};
use sqlx::PgPool;
use uuid::Uuid;

/// One row of `GET …/schemas`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ObjectSummary {
    pub schema_name: String,
    pub name: String,
    pub kind: String,
    pub field_count: i64,
    pub row_estimate: Option<i64>,
    pub partition_count: Option<i32>,
    pub comment: Option<String>,
}

/// A cached object with everything `GET …/schemas/{schema_id}` shows.
#[derive(Debug, Clone)]
pub struct CachedObject {
    pub summary: ObjectSummary,
    pub primary_keys: Vec<String>,
    pub indexes: Vec<Index>,
    pub fields: Vec<Field>,
}

/// A page of cached objects ordered by (schema, name), after the cursor.
pub async fn list_objects(
    pool: &PgPool,
    connection_id: Uuid,
    schema: Option<&str>,
    after: Option<&SchemaId>,
    limit: i64,
) -> Result<Vec<ObjectSummary>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT o.schema_name, o.name, o.kind,
                (SELECT count(*) FROM schema_fields f
                  WHERE f.connection_id = o.connection_id AND f.schema_name = o.schema_name AND f.object_name = o.name)
                  AS field_count,
                o.row_estimate, o.partition_count, o.comment
         FROM schema_objects o
         WHERE o.connection_id = $1
           AND ($2::text IS NULL OR o.schema_name = $2)
           AND ($3::text IS NULL OR (o.schema_name, o.name) > ($3, $4))
         ORDER BY o.schema_name, o.name
         LIMIT $5",
    )
    .bind(connection_id)
    .bind(schema)
    .bind(after.map(|id| id.schema.as_str()))
    .bind(after.map(|id| id.name.as_str()))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

#[derive(sqlx::FromRow)]
struct ObjectRow {
    schema_name: String,
    name: String,
    kind: String,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    comment: Option<String>,
    primary_keys: Vec<String>,
    indexes: sqlx::types::Json<Vec<Index>>,
}

/// One object with its fields, both read from the same snapshot (a refresh that
/// commits in between cannot pair the old object with the new fields).
pub async fn get_object(
    pool: &PgPool,
    connection_id: Uuid,
    id: &SchemaId,
) -> Result<Option<CachedObject>, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let object: Option<ObjectRow> = sqlx::query_as(
        "SELECT schema_name, name, kind, row_estimate, partition_count, comment, primary_keys, indexes
         FROM schema_objects WHERE connection_id = $1 AND schema_name = $2 AND name = $3",
    )
    .bind(connection_id)
    .bind(&id.schema)
    .bind(&id.name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(object) = object else {
        return Ok(None);
    };
    let fields: Vec<FieldRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FIELD_COLUMNS} FROM schema_fields
         WHERE connection_id = $1 AND schema_name = $2 AND object_name = $3 ORDER BY ordinal"
    )))
    .bind(connection_id)
    .bind(&id.schema)
    .bind(&id.name)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let fields: Vec<Field> = fields.into_iter().map(FieldRow::into_field).collect();
    Ok(Some(CachedObject {
        summary: ObjectSummary {
            schema_name: object.schema_name,
            name: object.name,
            kind: object.kind,
            field_count: i64::try_from(fields.len()).unwrap_or(i64::MAX),
            row_estimate: object.row_estimate,
            partition_count: object.partition_count,
            comment: object.comment,
        },
        primary_keys: object.primary_keys,
        indexes: object.indexes.0,
        fields,
    }))
}
