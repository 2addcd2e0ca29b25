//! The cached snapshot: read whole, replaced whole, in one transaction.

use crate::StoreError;
use schemata_core::{Association, Field, FieldType, Index, ObjectKind, SchemaObject, Snapshot};
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct ObjectRow {
    schema_name: String,
    name: String,
    kind: String,
    comment: Option<String>,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    primary_keys: Vec<String>,
    indexes: sqlx::types::Json<Vec<Index>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct FieldRow {
    pub schema_name: String,
    pub object_name: String,
    pub name: String,
    pub ordinal: i32,
    pub remote_type: String,
    pub field_type: String,
    pub nullable: bool,
    pub default_value: Option<String>,
    pub is_primary_key: bool,
    pub association_schema_id: Option<String>,
    pub association_field: Option<String>,
    pub comment: Option<String>,
}

impl FieldRow {
    pub(crate) fn into_field(self) -> Field {
        Field {
            name: self.name,
            ordinal: self.ordinal,
            remote_type: self.remote_type,
            field_type: FieldType::parse(&self.field_type).unwrap_or(FieldType::Unknown),
            nullable: self.nullable,
            default: self.default_value,
            is_primary_key: self.is_primary_key,
            association: self
                .association_schema_id
                .zip(self.association_field)
                .map(|(schema_id, field)| Association { schema_id, field }),
            comment: self.comment,
        }
    }
}

pub(crate) const FIELD_COLUMNS: &str =
    "schema_name, object_name, name, ordinal, remote_type, field_type, nullable,
    default_value, is_primary_key, association_schema_id, association_field, comment";

/// The whole cached snapshot of a connection.
pub async fn load(conn: &mut PgConnection, connection_id: Uuid) -> Result<Snapshot, StoreError> {
    let objects: Vec<ObjectRow> = sqlx::query_as(
        "SELECT schema_name, name, kind, comment, row_estimate, partition_count, primary_keys, indexes
         FROM schema_objects WHERE connection_id = $1 ORDER BY schema_name, name",
    )
    .bind(connection_id)
    .fetch_all(&mut *conn)
    .await?;
    let fields: Vec<FieldRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FIELD_COLUMNS} FROM schema_fields WHERE connection_id = $1 ORDER BY schema_name, object_name, ordinal"
    )))
    .bind(connection_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut fields_by_object: HashMap<(String, String), Vec<Field>> = HashMap::new();
    for row in fields {
        fields_by_object
            .entry((row.schema_name.clone(), row.object_name.clone()))
            .or_default()
            .push(row.into_field());
    }
    let objects = objects
        .into_iter()
        .map(|row| {
            let fields = fields_by_object
                .remove(&(row.schema_name.clone(), row.name.clone()))
                .unwrap_or_default();
            Ok(SchemaObject {
                kind: row
                    .kind
                    .parse::<ObjectKind>()
                    .map_err(StoreError::Corrupt)?,
                schema: row.schema_name,
                name: row.name,
                comment: row.comment,
                row_estimate: row.row_estimate,
                partition_count: row.partition_count,
                primary_keys: row.primary_keys,
                fields,
                indexes: row.indexes.0,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Snapshot { objects })
}

/// Replaces the connection's cache with `snapshot` inside `tx`. Readers see the old
/// cache until the caller commits, then the new one: never a mix.
pub async fn replace(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM schema_objects WHERE connection_id = $1")
        .bind(connection_id)
        .execute(&mut **tx)
        .await?;
    insert_objects(tx, connection_id, snapshot).await?;
    insert_fields(tx, connection_id, snapshot).await?;
    sqlx::query("UPDATE connections SET schema_version = $2 WHERE id = $1")
        .bind(connection_id)
        .bind(snapshot.version())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_objects(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let objects = &snapshot.objects;
    let schemas: Vec<&str> = objects.iter().map(|o| o.schema.as_str()).collect();
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    let comments: Vec<Option<&str>> = objects.iter().map(|o| o.comment.as_deref()).collect();
    let estimates: Vec<Option<i64>> = objects.iter().map(|o| o.row_estimate).collect();
    let partitions: Vec<Option<i32>> = objects.iter().map(|o| o.partition_count).collect();
    // Arrays of arrays must be rectangular in Postgres, so keys travel as JSON.
    let keys: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| serde_json::json!(o.primary_keys))
        .collect();
    let indexes: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| serde_json::json!(o.indexes))
        .collect();
    sqlx::query(
        "INSERT INTO schema_objects (connection_id, schema_name, name, kind, comment, row_estimate, partition_count,
             primary_keys, indexes)
         SELECT $1, s, n, k, c, e, p, ARRAY(SELECT jsonb_array_elements_text(pk)), ix
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int4[], $8::jsonb[], $9::jsonb[])
              AS t(s, n, k, c, e, p, pk, ix)",
    )
    .bind(connection_id)
    .bind(&schemas)
    .bind(&names)
    .bind(&kinds)
    .bind(&comments)
    .bind(&estimates)
    .bind(&partitions)
    .bind(&keys)
    .bind(&indexes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_fields(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: Uuid,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let rows: Vec<(&SchemaObject, &Field)> = snapshot
        .objects
        .iter()
        .flat_map(|o| o.fields.iter().map(move |f| (o, f)))
        .collect();
    let schemas: Vec<&str> = rows.iter().map(|(o, _)| o.schema.as_str()).collect();
    let objects: Vec<&str> = rows.iter().map(|(o, _)| o.name.as_str()).collect();
    let names: Vec<&str> = rows.iter().map(|(_, f)| f.name.as_str()).collect();
    let ordinals: Vec<i32> = rows.iter().map(|(_, f)| f.ordinal).collect();
    let remote_types: Vec<&str> = rows.iter().map(|(_, f)| f.remote_type.as_str()).collect();
    let types: Vec<&str> = rows.iter().map(|(_, f)| f.field_type.as_str()).collect();
    let nullables: Vec<bool> = rows.iter().map(|(_, f)| f.nullable).collect();
    let defaults: Vec<Option<&str>> = rows.iter().map(|(_, f)| f.default.as_deref()).collect();
    let keys: Vec<bool> = rows.iter().map(|(_, f)| f.is_primary_key).collect();
    let target_ids: Vec<Option<&str>> = rows
        .iter()
        .map(|(_, f)| f.association.as_ref().map(|a| a.schema_id.as_str()))
        .collect();
    let target_fields: Vec<Option<&str>> = rows
        .iter()
        .map(|(_, f)| f.association.as_ref().map(|a| a.field.as_str()))
        .collect();
    let comments: Vec<Option<&str>> = rows.iter().map(|(_, f)| f.comment.as_deref()).collect();
    sqlx::query(
        "INSERT INTO schema_fields (connection_id, schema_name, object_name, name, ordinal, remote_type, field_type,
             nullable, default_value, is_primary_key, association_schema_id, association_field, comment)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::bool[],
             $9::text[], $10::bool[], $11::text[], $12::text[], $13::text[])",
    )
    .bind(connection_id)
    .bind(&schemas)
    .bind(&objects)
    .bind(&names)
    .bind(&ordinals)
    .bind(&remote_types)
    .bind(&types)
    .bind(&nullables)
    .bind(&defaults)
    .bind(&keys)
    .bind(&target_ids)
    .bind(&target_fields)
    .bind(&comments)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
