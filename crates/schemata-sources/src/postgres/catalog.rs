//! The catalog queries and their assembly into a snapshot. Each query covers every
//! object at once; results are joined in memory by relation oid.

use super::refuse_own_database;
use crate::{Budget, Introspection, IntrospectionScope, SourceError, SourceLimits, within};
use futures::TryStreamExt;
use schemata_core::{Association, Field, FieldType, Index, ObjectKind, SchemaObject, Snapshot};
use sqlx::{
    PgConnection, Postgres, Row,
    postgres::{PgArguments, PgRow, types::Oid},
};
use std::{collections::HashMap, time::Duration};

const OBJECTS: &str = "
SELECT c.oid AS oid, n.nspname::text AS schema_name, c.relname::text AS name, c.relkind::text AS relkind,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::int8 END AS row_estimate,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT count(*)::int4 FROM pg_inherits i WHERE i.inhparent = c.oid) END AS partition_count
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1))
  AND (cardinality($2::text[]) = 0 OR n.nspname || '.' || c.relname = ANY($2))
  AND ((cardinality($3::text[]) = 0 AND cardinality($4::text[]) = 0)
       OR n.nspname = ANY($3) OR n.nspname || '.' || c.relname = ANY($4))
ORDER BY n.nspname, c.relname
LIMIT $5";

const COLUMNS: &str = "
SELECT a.attrelid AS relid, a.attname::text AS name, a.attnum::int4 AS ordinal,
       format_type(a.atttypid, a.atttypmod) AS remote_type,
       NOT a.attnotnull AS nullable,
       pg_get_expr(d.adbin, d.adrelid) AS default_value,
       coalesce(bt.typname, t.typname)::text AS base_type,
       coalesce(bt.typcategory, t.typcategory)::text AS category,
       col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
LIMIT $2";

/// Primary and foreign keys, with their columns in key order. Foreign keys that
/// PostgreSQL clones onto partitions (conparentid <> 0) are skipped.
const KEYS: &str = "
SELECT con.conrelid AS relid, con.contype::text AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.pos) AS columns,
       fn.nspname::text AS target_schema, fc.relname::text AS target_name,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.pos) AS target_columns
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY($1) AND con.contype IN ('p', 'f') AND con.conparentid = 0
ORDER BY con.conrelid, con.conname";

const INDEXES: &str = "
SELECT i.indrelid AS relid, ic.relname::text AS name, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.pos) AS columns,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY($1)
ORDER BY i.indrelid, ic.relname";

#[derive(sqlx::FromRow)]
struct ObjectRow {
    oid: Oid,
    schema_name: String,
    name: String,
    relkind: String,
    comment: Option<String>,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    relid: Oid,
    name: String,
    ordinal: i32,
    remote_type: String,
    nullable: bool,
    default_value: Option<String>,
    base_type: String,
    category: String,
    comment: Option<String>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    relid: Oid,
    kind: String,
    columns: Vec<String>,
    target_schema: Option<String>,
    target_name: Option<String>,
    target_columns: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct IndexRow {
    relid: Oid,
    name: String,
    is_unique: bool,
    is_primary: bool,
    columns: Vec<String>,
    definition: Option<String>,
}

/// Reads the catalog in one REPEATABLE READ, READ ONLY transaction, so all four
/// queries see the same moment of the source. Every round trip has a client-side
/// deadline and every result counts against the refresh's caps.
pub(super) async fn read(
    conn: &mut PgConnection,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
) -> Result<Introspection, SourceError> {
    let deadline = limits.round_trip();
    let marker = within(deadline, async {
        let row = sqlx::raw_sql(BEGIN)
            .fetch_one(&mut *conn)
            .await
            .map_err(SourceError::from_query)?;
        row.try_get::<Option<String>, _>(0)
            .map_err(SourceError::from_query)
    })
    .await?;
    refuse_own_database(marker)?;
    let result = read_in_transaction(conn, scope, limits).await;
    if !matches!(result, Err(SourceError::Timeout(_))) {
        let _ = within(deadline, async {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut *conn)
                .await
                .map_err(SourceError::from_query)
        })
        .await;
    }
    result
}

/// Opens the snapshot and, in the same round trip, reads our own-database marker.
const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT current_setting('schemata.instance', true)";

async fn read_in_transaction(
    conn: &mut PgConnection,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
) -> Result<Introspection, SourceError> {
    let mut budget = limits.budget();
    let deadline = limits.round_trip();
    let only_tables: Vec<String> = scope
        .options
        .tables
        .iter()
        .map(ToString::to_string)
        .collect();
    let object_cap = i64::try_from(budget.max_objects()).unwrap_or(i64::MAX);
    let objects: Vec<ObjectRow> = fetch(
        conn,
        sqlx::query(OBJECTS)
            .bind(scope.schema_filter.names())
            .bind(scope.table_allowlist.entries())
            .bind(&scope.options.schemas)
            .bind(&only_tables)
            .bind(object_cap + 1),
        &mut budget,
        deadline,
    )
    .await?;
    budget.check_objects(objects.len())?;
    let oids: Vec<Oid> = objects.iter().map(|o| o.oid).collect();
    let column_cap = i64::try_from(budget.max_columns()).unwrap_or(i64::MAX);
    let columns: Vec<ColumnRow> = fetch(
        conn,
        sqlx::query(COLUMNS).bind(&oids).bind(column_cap + 1),
        &mut budget,
        deadline,
    )
    .await?;
    budget.check_columns(columns.len())?;
    let keys: Vec<KeyRow> =
        fetch(conn, sqlx::query(KEYS).bind(&oids), &mut budget, deadline).await?;
    let indexes: Vec<IndexRow> = fetch(
        conn,
        sqlx::query(INDEXES).bind(&oids),
        &mut budget,
        deadline,
    )
    .await?;
    Ok(Introspection {
        snapshot: assemble(objects, columns, keys, indexes),
        failures: vec![],
    })
}

/// Streams a query's rows under `deadline`, charging their size to `budget`.
async fn fetch<'q, T>(
    conn: &mut PgConnection,
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    budget: &mut Budget,
    deadline: Duration,
) -> Result<Vec<T>, SourceError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    within(deadline, async {
        let mut rows = query.fetch(&mut *conn);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(SourceError::from_query)? {
            budget.charge_bytes(row_bytes(&row))?;
            out.push(T::from_row(&row).map_err(SourceError::from_query)?);
        }
        Ok(out)
    })
    .await
}

/// The size of a row as it came over the wire.
fn row_bytes(row: &PgRow) -> usize {
    (0..row.len())
        .filter_map(|i| row.try_get_raw(i).ok())
        .map(|value| value.as_bytes().map_or(0, <[u8]>::len))
        .sum()
}

fn assemble(
    objects: Vec<ObjectRow>,
    columns: Vec<ColumnRow>,
    keys: Vec<KeyRow>,
    indexes: Vec<IndexRow>,
) -> Snapshot {
    let mut fields_by_rel: HashMap<Oid, Vec<Field>> = HashMap::new();
    for column in columns {
        fields_by_rel.entry(column.relid).or_default().push(Field {
            field_type: FieldType::from_postgres(&column.base_type, &column.category),
            name: column.name,
            ordinal: column.ordinal,
            remote_type: column.remote_type,
            nullable: column.nullable,
            default: column.default_value,
            is_primary_key: false,
            association: None,
            comment: column.comment,
        });
    }
    let mut primary_keys: HashMap<Oid, Vec<String>> = HashMap::new();
    let mut associations: HashMap<(Oid, String), Association> = HashMap::new();
    for key in keys {
        if key.kind == "p" {
            primary_keys.insert(key.relid, key.columns);
            continue;
        }
        let (Some(schema), Some(name)) = (key.target_schema, key.target_name) else {
            continue;
        };
        for (column, target) in key.columns.into_iter().zip(key.target_columns) {
            // A column in several foreign keys points at the first, by constraint name.
            associations
                .entry((key.relid, column))
                .or_insert_with(|| Association {
                    schema_id: format!("{schema}.{name}"),
                    field: target,
                });
        }
    }
    let mut indexes_by_rel: HashMap<Oid, Vec<Index>> = HashMap::new();
    for index in indexes {
        indexes_by_rel.entry(index.relid).or_default().push(Index {
            name: index.name,
            columns: index.columns,
            unique: index.is_unique,
            primary: index.is_primary,
            definition: index.definition,
        });
    }
    let objects = objects
        .into_iter()
        .map(|row| {
            let keys = primary_keys.remove(&row.oid).unwrap_or_default();
            let mut fields = fields_by_rel.remove(&row.oid).unwrap_or_default();
            for field in &mut fields {
                field.is_primary_key = keys.contains(&field.name);
                field.association = associations.remove(&(row.oid, field.name.clone()));
            }
            SchemaObject {
                kind: object_kind(&row.relkind),
                schema: row.schema_name,
                name: row.name,
                comment: row.comment,
                row_estimate: row.row_estimate,
                partition_count: row.partition_count,
                primary_keys: keys,
                fields,
                indexes: indexes_by_rel.remove(&row.oid).unwrap_or_default(),
            }
        })
        .collect();
    Snapshot { objects }
}

fn object_kind(relkind: &str) -> ObjectKind {
    match relkind {
        "v" => ObjectKind::View,
        "m" => ObjectKind::MaterializedView,
        "p" => ObjectKind::PartitionedTable,
        "f" => ObjectKind::ForeignTable,
        _ => ObjectKind::Table,
    }
}
