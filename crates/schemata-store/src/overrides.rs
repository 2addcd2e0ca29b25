//! User fields, field overrides and primary key overrides: tables of their
//! own that no refresh writes, so nothing a user set is ever lost to one.

use crate::StoreError;
use schemata_core::{FieldOverride, FieldType, ObjectOverrides, SchemaId};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct OverrideRow {
    name: String,
    source_field: Option<String>,
    display_name: Option<String>,
    label: Option<String>,
    field_type: Option<String>,
    path: Option<String>,
    source_type_at_override: Option<String>,
    example: Option<Value>,
    definition: Option<Value>,
}

impl OverrideRow {
    fn into_override(self) -> Result<FieldOverride, StoreError> {
        let field_type = self
            .field_type
            .map(|t| {
                FieldType::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("field type `{t}`")))
            })
            .transpose()?;
        Ok(FieldOverride {
            field_id: self.name,
            source_field: self.source_field,
            display_name: self.display_name,
            label: self.label,
            field_type,
            path: self.path,
            source_type_at_override: self.source_type_at_override,
            example: self.example,
            definition: self.definition,
        })
    }
}

/// Everything users set on one object, user fields in the order they were made.
pub async fn of_object(
    pool: &PgPool,
    connection_id: Uuid,
    object: &SchemaId,
) -> Result<ObjectOverrides, StoreError> {
    let rows: Vec<OverrideRow> = sqlx::query_as(
        "SELECT name, source_field, display_name, label, field_type, path, source_type_at_override,
                example, definition
         FROM field_overrides
         WHERE connection_id = $1 AND schema_name = $2 AND object_name = $3
         ORDER BY created_at, id",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .fetch_all(pool)
    .await?;
    let primary_keys: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT fields FROM primary_key_overrides
         WHERE connection_id = $1 AND schema_name = $2 AND object_name = $3",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .fetch_optional(pool)
    .await?;
    Ok(ObjectOverrides {
        fields: rows
            .into_iter()
            .map(OverrideRow::into_override)
            .collect::<Result<_, _>>()?,
        primary_keys,
    })
}

/// A digest of every override of a connection (empty when there are none),
/// which goes into the version clients see. Each override is hashed on its
/// own and the sorted hashes are hashed again, so the work stays in the
/// database and nothing large comes back.
pub async fn digest(pool: &PgPool, connection_id: Uuid) -> Result<String, StoreError> {
    let digest: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(digest_sql("$1")))
        .bind(connection_id)
        .fetch_one(pool)
        .await?;
    Ok(digest.unwrap_or_default())
}

/// The digest when the connection has overrides, NULL when it has none: what
/// the status (and a webhook's `schema_version`) folds into the version.
pub(crate) fn digest_if_any_sql(connection: &str) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM field_overrides WHERE connection_id = {connection})
                OR EXISTS (SELECT 1 FROM primary_key_overrides WHERE connection_id = {connection})
              THEN ({digest}) END",
        digest = digest_sql(connection)
    )
}

/// The digest's query for the connection whose id is the SQL `connection`
/// (a parameter, or a column of an outer query).
pub(crate) fn digest_sql(connection: &str) -> String {
    format!(
        r#"SELECT encode(sha256(convert_to(string_agg(h, E'\n' ORDER BY h COLLATE "C"), 'UTF8')), 'hex')
           FROM (
               SELECT encode(sha256(convert_to(line, 'UTF8')), 'hex') AS h FROM (
                   SELECT jsonb_build_array('field', schema_name, object_name, name, source_field,
                                            display_name, label, field_type, path,
                                            source_type_at_override, example, definition)::text AS line
                   FROM field_overrides WHERE connection_id = {connection}
                   UNION ALL
                   SELECT jsonb_build_array('primary_key', schema_name, object_name, fields)::text
                   FROM primary_key_overrides WHERE connection_id = {connection}
               ) lines
           ) hashes"#
    )
}

/// How many overrides and user fields the connection has, and how many of
/// them are on `object`: what the limits are checked against.
pub async fn counts(
    pool: &PgPool,
    connection_id: Uuid,
    object: &SchemaId,
) -> Result<(i64, i64), StoreError> {
    let counts = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE schema_name = $2 AND object_name = $3)
         FROM field_overrides WHERE connection_id = $1",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .fetch_one(pool)
    .await?;
    Ok(counts)
}

/// Creates or replaces the override or user field `field.field_id`.
pub async fn upsert_field(
    executor: impl PgExecutor<'_>,
    connection_id: Uuid,
    object: &SchemaId,
    field: &FieldOverride,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO field_overrides (id, connection_id, schema_name, object_name, name, source_field,
             display_name, label, field_type, path, source_type_at_override, example, definition)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (connection_id, schema_name, object_name, name) DO UPDATE SET
             source_field = EXCLUDED.source_field, display_name = EXCLUDED.display_name,
             label = EXCLUDED.label, field_type = EXCLUDED.field_type, path = EXCLUDED.path,
             source_type_at_override = EXCLUDED.source_type_at_override,
             example = EXCLUDED.example, definition = EXCLUDED.definition, updated_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .bind(&field.field_id)
    .bind(&field.source_field)
    .bind(&field.display_name)
    .bind(&field.label)
    .bind(field.field_type.map(FieldType::as_str))
    .bind(&field.path)
    .bind(&field.source_type_at_override)
    .bind(&field.example)
    .bind(&field.definition)
    .execute(executor)
    .await?;
    Ok(())
}

/// Removes an override or user field; false when there was none.
pub async fn delete_field(
    pool: &PgPool,
    connection_id: Uuid,
    object: &SchemaId,
    field_id: &str,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM field_overrides
         WHERE connection_id = $1 AND schema_name = $2 AND object_name = $3 AND name = $4",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .bind(field_id)
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Sets the object's primary key to `fields`, in that order.
pub async fn set_primary_keys(
    pool: &PgPool,
    connection_id: Uuid,
    object: &SchemaId,
    fields: &[String],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO primary_key_overrides (connection_id, schema_name, object_name, fields)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id, schema_name, object_name)
         DO UPDATE SET fields = EXCLUDED.fields, updated_at = now()",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .bind(fields)
    .execute(pool)
    .await?;
    Ok(())
}

/// Back to the detected primary key.
pub async fn reset_primary_keys(
    pool: &PgPool,
    connection_id: Uuid,
    object: &SchemaId,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM primary_key_overrides
         WHERE connection_id = $1 AND schema_name = $2 AND object_name = $3",
    )
    .bind(connection_id)
    .bind(&object.schema)
    .bind(&object.name)
    .execute(pool)
    .await?;
    Ok(())
}
