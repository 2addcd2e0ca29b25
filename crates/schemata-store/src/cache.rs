//! Reading the cached schema for clients.

use crate::{
    StoreError,
    snapshots::{OBJECT_COLUMNS, ObjectRow},
};
use schemata_core::{ObjectKind, SchemaId, SchemaObject};
use sqlx::PgPool;
use uuid::Uuid;

/// One row of `GET …/schemas`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ObjectSummary {
    pub schema_name: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ObjectKind,
    pub field_count: i32,
    pub row_estimate: Option<i64>,
    pub partition_count: Option<i32>,
    pub comment: Option<String>,
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
        "SELECT schema_name, name, kind, field_count, row_estimate, partition_count, comment
         FROM schema_objects
         WHERE connection_id = $1
           AND ($2::text IS NULL OR schema_name = $2)
           AND ($3::text IS NULL OR (schema_name, name) > ($3, $4))
         ORDER BY schema_name, name
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

/// One cached object with its fields: one row, so always one snapshot.
pub async fn get_object(
    pool: &PgPool,
    connection_id: Uuid,
    id: &SchemaId,
) -> Result<Option<SchemaObject>, StoreError> {
    let row: Option<ObjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {OBJECT_COLUMNS} FROM schema_objects
         WHERE connection_id = $1 AND schema_name = $2 AND name = $3"
    )))
    .bind(connection_id)
    .bind(&id.schema)
    .bind(&id.name)
    .fetch_optional(pool)
    .await?;
    row.map(ObjectRow::into_object).transpose()
}
