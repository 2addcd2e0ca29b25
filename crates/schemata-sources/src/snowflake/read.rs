//! One refresh's reading of a Snowflake database, in a fixed number of
//! catalog queries whatever the number of tables:
//!
//! 1. `INFORMATION_SCHEMA.TABLES` (tables, views, materialized views, dynamic
//!    and external tables, with `LAST_DDL`, row counts, bytes, clustering),
//! 2. `SHOW VIEWS IN DATABASE` (view comments, texts, secure/materialized),
//! 3. `SHOW PRIMARY KEYS`, `SHOW UNIQUE KEYS`, `SHOW IMPORTED KEYS` `IN
//!    DATABASE` (one per schema where a server refuses `IN DATABASE`),
//! 4. `INFORMATION_SCHEMA.COLUMNS`: every column when the first three show a
//!    change, else only the columns of views.
//!
//! The fingerprint of 1–3 (every table's `LAST_DDL` in the database, in
//! scope or not; each object's comment, kind, view text and keys; the scope)
//! is kept as the catalog state: the next refresh that computes the same
//! fingerprint reads no table's columns. A view's columns follow objects its
//! own `LAST_DDL` does not see (in another database, say), so views are read
//! every time. An object whose `LAST_DDL` is unknown (a view only `SHOW
//! VIEWS` lists, an emulator's epoch) makes every refresh read in full.

use super::client::Session;
use super::results::{Record, ResultSet};
use crate::limits::OBJECTS;
use crate::{
    Introspection, IntrospectionScope, Listing, ObjectSink, SourceError, SourceLimits, send,
};
use schemata_core::object::annotate_keys;
use schemata_core::{
    Field, ForeignKey, ObjectKind, RefreshFailure, SchemaId, SchemaObject, SnowflakeType,
    UniqueConstraint, object::Reference,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Objects sent to the writer at a time.
const BATCH: usize = 1000;

/// A name quoted as a Snowflake identifier.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One object as the listing queries describe it.
#[derive(Debug, Clone)]
struct Listed {
    schema: String,
    name: String,
    kind: ObjectKind,
    comment: Option<String>,
    row_estimate: Option<i64>,
    properties: serde_json::Map<String, Value>,
    /// `LAST_DDL` (or `LAST_ALTERED`) as text; None when unknown.
    last_ddl: Option<String>,
    /// A view's text, part of the fingerprint.
    text: Option<String>,
}

impl Listed {
    fn id(&self) -> SchemaId {
        SchemaId::new(&self.schema, &self.name)
    }
}

/// The keys of one kind, as `SHOW … KEYS` lists them.
struct Keys {
    primary: ResultSet,
    unique: ResultSet,
    imported: ResultSet,
}

pub(super) async fn read(
    session: &Session<'_>,
    database: &str,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
    sink: ObjectSink,
) -> Result<Introspection, SourceError> {
    let mut budget = limits.budget();
    let db = quoted(database);
    let objects_cap = limits.max_objects.saturating_add(1);
    let columns_cap = limits.max_columns.saturating_add(1);
    let tables = session
        .query(
            &format!(
                "SELECT * FROM {db}.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'"
            ),
            objects_cap,
        )
        .await?;
    budget.charge_bytes(tables.bytes)?;
    let views = session
        .query(&format!("SHOW VIEWS IN DATABASE {db}"), objects_cap)
        .await?;
    budget.charge_bytes(views.bytes)?;
    let listed = listing(&tables, &views, scope);
    if listed.len() > limits.max_objects {
        return Err(budget.too_many(OBJECTS, limits.max_objects));
    }
    let mut schemas: Vec<&str> = listed.iter().map(|l| l.schema.as_str()).collect();
    schemas.sort_unstable();
    schemas.dedup();
    let keys = Keys {
        primary: show_keys(session, "PRIMARY", &db, &schemas, columns_cap).await?,
        unique: show_keys(session, "UNIQUE", &db, &schemas, columns_cap).await?,
        imported: show_keys(session, "IMPORTED", &db, &schemas, columns_cap).await?,
    };
    for set in [&keys.primary, &keys.unique, &keys.imported] {
        budget.charge_bytes(set.bytes)?;
    }
    let fingerprint = fingerprint(&tables, &listed, &keys, scope);
    let tables_unchanged = unchanged(&listed, &fingerprint, scope);
    let to_read: Vec<Listed> = if tables_unchanged {
        listed
            .iter()
            .filter(|l| l.kind.is_view())
            .cloned()
            .collect()
    } else {
        listed.clone()
    };
    if tables_unchanged && to_read.is_empty() {
        return Ok(Introspection::Unchanged);
    }
    let only_views = if tables_unchanged {
        " AND EXISTS (SELECT 1 FROM {db}.INFORMATION_SCHEMA.TABLES t
             WHERE t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
               AND t.TABLE_TYPE IN ('VIEW', 'MATERIALIZED VIEW'))"
            .replace("{db}", &db)
    } else {
        String::new()
    };
    let columns = session
        .query(
            &format!(
                "SELECT c.* FROM {db}.INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_SCHEMA <> 'INFORMATION_SCHEMA'{only_views}"
            ),
            columns_cap,
        )
        .await?;
    budget.charge_bytes(columns.bytes)?;
    if columns.rows.len() > limits.max_columns {
        return Err(budget.too_many("columns", limits.max_columns));
    }
    // Tables left out of `to_read` are known unchanged: present, not sent.
    let (objects, failures) = assemble(&to_read, &columns, &keys);
    let present: Vec<SchemaId> = listed.iter().map(Listed::id).collect();
    let mut objects = objects.into_iter().peekable();
    while objects.peek().is_some() {
        send(&sink, objects.by_ref().take(BATCH).collect()).await?;
    }
    let catalog_state = (!scope.options.is_partial()).then(|| {
        json!({
            "fingerprint": fingerprint,
            // A failed object is read again next time, changed or not.
            "complete": failures.is_empty(),
        })
    });
    Ok(Introspection::Read(Listing {
        present,
        failures,
        catalog_state,
    }))
}

/// Whether the columns need not be read: every object's `LAST_DDL` is
/// known, the fingerprint is the one the last complete refresh stored, the
/// refresh is not partial (which stores no state), and no soft refresh left
/// objects in the cache that a hard one must list away.
fn unchanged(listed: &[Listed], fingerprint: &str, scope: &IntrospectionScope) -> bool {
    let every_ddl_known = listed.iter().all(|l| l.last_ddl.is_some());
    let stored = scope.known.catalog_state.as_ref();
    every_ddl_known
        && !scope.options.is_partial()
        && !(scope.options.hard_refresh && scope.known.cache_keeps_unlisted)
        && stored
            .is_some_and(|s| s["fingerprint"] == json!(fingerprint) && s["complete"] == json!(true))
}

/// `SHOW <kind> KEYS IN DATABASE`, or once per schema where the server
/// does not list keys database-wide.
async fn show_keys(
    session: &Session<'_>,
    kind: &str,
    db: &str,
    schemas: &[&str],
    max_rows: usize,
) -> Result<ResultSet, SourceError> {
    match session
        .query(&format!("SHOW {kind} KEYS IN DATABASE {db}"), max_rows)
        .await
    {
        Ok(keys) => Ok(keys),
        Err(SourceError::Query(words)) => {
            tracing::debug!(%words, "SHOW {kind} KEYS IN DATABASE refused; reading per schema");
            let mut all = ResultSet::default();
            for schema in schemas {
                let keys = session
                    .query(
                        &format!("SHOW {kind} KEYS IN SCHEMA {db}.{}", quoted(schema)),
                        max_rows,
                    )
                    .await?;
                if all.columns.is_empty() {
                    all.columns = keys.columns.clone();
                }
                all.bytes += keys.bytes;
                all.rows.extend(keys.remap(&all.columns));
            }
            Ok(all)
        }
        Err(other) => Err(other),
    }
}

/// Whether `id` in `schema` is one the refresh reads.
fn in_scope(scope: &IntrospectionScope, id: &SchemaId) -> bool {
    let options = &scope.options;
    scope.schema_filter.admits(&id.schema)
        && scope.table_allowlist.admits(id)
        && (!options.is_partial()
            || options.schemas.contains(&id.schema)
            || options.tables.contains(id))
}

/// A time Snowflake reports, or None when it is unknown (absent, or the
/// Unix epoch an emulator reports for everything).
fn known_time(record: &Record<'_>, name: &str) -> Option<String> {
    record
        .text(name)
        .filter(|t| !t.is_empty() && !t.starts_with("1970-01-01T00:00:00"))
}

fn nonempty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

/// Every object in scope: the tables listing, and the views `SHOW VIEWS`
/// adds (or describes better: comments, texts, materialized).
fn listing(tables: &ResultSet, views: &ResultSet, scope: &IntrospectionScope) -> Vec<Listed> {
    let mut listed: BTreeMap<SchemaId, Listed> = BTreeMap::new();
    for table in tables.records() {
        let (Some(schema), Some(name)) = (table.text("TABLE_SCHEMA"), table.text("TABLE_NAME"))
        else {
            continue;
        };
        let table_type = table
            .text("TABLE_TYPE")
            .unwrap_or_default()
            .to_ascii_uppercase();
        let kind = match table_type.as_str() {
            "VIEW" => ObjectKind::View,
            "MATERIALIZED VIEW" => ObjectKind::MaterializedView,
            "EXTERNAL TABLE" => ObjectKind::ForeignTable,
            _ => ObjectKind::Table,
        };
        let mut properties = serde_json::Map::new();
        if let Some(key) = nonempty(table.text("CLUSTERING_KEY")) {
            properties.insert("clustering_key".into(), json!(key));
        }
        if kind == ObjectKind::Table || kind == ObjectKind::ForeignTable {
            if let Some(bytes) = table.int("BYTES") {
                properties.insert("bytes".into(), json!(bytes));
            }
            properties.insert("transient".into(), json!(table.flag("IS_TRANSIENT")));
            properties.insert("dynamic".into(), json!(table.flag("IS_DYNAMIC")));
        }
        for (column, property) in [("IS_ICEBERG", "iceberg"), ("IS_HYBRID", "hybrid")] {
            if table.flag(column) {
                properties.insert(property.into(), json!(true));
            }
        }
        if kind == ObjectKind::ForeignTable {
            properties.insert("external".into(), json!(true));
        }
        let object = Listed {
            schema,
            name,
            kind,
            comment: nonempty(table.text("COMMENT")),
            row_estimate: (!kind.is_view()).then(|| table.int("ROW_COUNT")).flatten(),
            properties,
            last_ddl: known_time(&table, "LAST_DDL").or_else(|| known_time(&table, "LAST_ALTERED")),
            text: None,
        };
        listed.insert(object.id(), object);
    }
    for view in views.records() {
        let (Some(schema), Some(name)) = (view.text("schema_name"), view.text("name")) else {
            continue;
        };
        let id = SchemaId::new(&schema, &name);
        let kind = if view.flag("is_materialized") {
            ObjectKind::MaterializedView
        } else {
            ObjectKind::View
        };
        let entry = listed.entry(id).or_insert_with(|| Listed {
            schema,
            name,
            kind,
            comment: None,
            row_estimate: None,
            properties: serde_json::Map::new(),
            last_ddl: None,
            text: None,
        });
        entry.kind = kind;
        entry.comment = nonempty(view.text("comment")).or(entry.comment.take());
        entry.text = view.text("text");
        if view.flag("is_secure") {
            entry.properties.insert("secure".into(), json!(true));
        }
    }
    listed
        .into_values()
        .filter(|l| in_scope(scope, &l.id()))
        .collect()
}

/// What the listing queries say of the objects in scope, as one hash.
fn fingerprint(
    tables: &ResultSet,
    listed: &[Listed],
    keys: &Keys,
    scope: &IntrospectionScope,
) -> String {
    let mut hasher = Sha256::new();
    // Every table of the database, in scope or not: a view in scope may
    // read one that is not.
    let mut everything: Vec<String> = tables
        .records()
        .map(|t| {
            json!([
                t.text("TABLE_SCHEMA"),
                t.text("TABLE_NAME"),
                t.text("LAST_DDL").or_else(|| t.text("LAST_ALTERED")),
            ])
            .to_string()
        })
        .collect();
    everything.sort();
    for line in everything {
        hasher.update(line);
        hasher.update(b"\n");
    }
    let scope_key = json!({
        "schema_filter": scope.schema_filter.names(),
        "table_allowlist": scope.table_allowlist.ids().iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    hasher.update(scope_key.to_string());
    for object in listed {
        let line = json!([
            object.schema,
            object.name,
            object.kind.as_str(),
            object.last_ddl,
            object.comment,
            object.text,
            object
                .properties
                .iter()
                .filter(|(k, _)| *k != "bytes")
                .collect::<Vec<_>>(),
        ]);
        hasher.update(line.to_string());
        hasher.update(b"\n");
    }
    let ids: std::collections::HashSet<SchemaId> = listed.iter().map(Listed::id).collect();
    for (set, schema_column, table_column) in [
        (&keys.primary, "schema_name", "table_name"),
        (&keys.unique, "schema_name", "table_name"),
        (&keys.imported, "fk_schema_name", "fk_table_name"),
    ] {
        let mut lines: Vec<String> = set
            .records()
            .filter(|r| {
                let id = SchemaId::new(
                    r.text(schema_column).unwrap_or_default(),
                    r.text(table_column).unwrap_or_default(),
                );
                ids.contains(&id)
            })
            .map(|r| Value::Array(r.row().to_vec()).to_string())
            .collect();
        lines.sort();
        for line in lines {
            hasher.update(line);
            hasher.update(b"\n");
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The objects in full, and those whose columns could not be read.
fn assemble(
    listed: &[Listed],
    columns: &ResultSet,
    keys: &Keys,
) -> (Vec<SchemaObject>, Vec<RefreshFailure>) {
    let mut fields: HashMap<SchemaId, Vec<Field>> = HashMap::new();
    for column in columns.records() {
        let (Some(schema), Some(table), Some(name)) = (
            column.text("TABLE_SCHEMA"),
            column.text("TABLE_NAME"),
            column.text("COLUMN_NAME"),
        ) else {
            continue;
        };
        let remote = SnowflakeType {
            data_type: column.text("DATA_TYPE").unwrap_or_default(),
            character_length: column.int("CHARACTER_MAXIMUM_LENGTH"),
            numeric_precision: column.int("NUMERIC_PRECISION"),
            numeric_scale: column.int("NUMERIC_SCALE"),
            datetime_precision: column.int("DATETIME_PRECISION"),
        };
        let ordinal = column
            .int("ORDINAL_POSITION")
            .and_then(|o| i32::try_from(o).ok())
            .unwrap_or(0);
        let mut field = Field::new(name, ordinal, remote.remote_type(), remote.field_type());
        field.nullable = column.flag("IS_NULLABLE");
        field.default = nonempty(column.text("COLUMN_DEFAULT"));
        field.comment = nonempty(column.text("COMMENT"));
        field.is_auto_increment = column.flag("IS_IDENTITY")
            || field
                .default
                .as_deref()
                .is_some_and(|d| d.to_ascii_uppercase().contains(".NEXTVAL"));
        fields
            .entry(SchemaId::new(&schema, &table))
            .or_default()
            .push(field);
    }
    let key_columns = |set: &ResultSet| -> KeyColumns {
        let mut by_table = KeyColumns::new();
        for key in set.records() {
            let id = SchemaId::new(
                key.text("schema_name").unwrap_or_default(),
                key.text("table_name").unwrap_or_default(),
            );
            by_table
                .entry(id)
                .or_default()
                .entry(key.text("constraint_name").unwrap_or_default())
                .or_default()
                .push((
                    key.int("key_sequence").unwrap_or(0),
                    key.text("column_name").unwrap_or_default(),
                ));
        }
        by_table
    };
    let primary = key_columns(&keys.primary);
    let unique = key_columns(&keys.unique);
    let foreign = foreign_keys(&keys.imported);
    let mut objects = Vec::with_capacity(listed.len());
    let mut failures = Vec::new();
    for entry in listed {
        let id = entry.id();
        let object_fields = fields.remove(&id);
        if object_fields.is_none() && entry.kind.is_view() {
            // A view over a dropped or hidden object has no columns to describe.
            failures.push(RefreshFailure {
                object: id.to_string(),
                error: "Snowflake lists no columns for this view: it may refer to an object that was dropped or that this role may not see".into(),
            });
            continue;
        }
        let object_fields = object_fields.unwrap_or_default();
        objects.push(object_of(entry, object_fields, &primary, &unique, &foreign));
    }
    (objects, failures)
}

type KeyColumns = HashMap<SchemaId, BTreeMap<String, Vec<(i64, String)>>>;

fn ordered(mut columns: Vec<(i64, String)>) -> Vec<String> {
    columns.sort();
    columns.into_iter().map(|(_, c)| c).collect()
}

fn object_of(
    entry: &Listed,
    fields: Vec<Field>,
    primary: &KeyColumns,
    unique: &KeyColumns,
    foreign: &HashMap<SchemaId, Vec<ForeignKey>>,
) -> SchemaObject {
    let id = entry.id();
    let mut object = SchemaObject::new(&entry.schema, &entry.name, entry.kind);
    object.comment = entry.comment.clone();
    object.row_estimate = entry.row_estimate;
    object.properties = entry.properties.clone();
    object.fields = fields;
    if let Some(keys) = primary.get(&id)
        && let Some(columns) = keys.values().next()
    {
        object.primary_keys = ordered(columns.clone());
    }
    if let Some(keys) = unique.get(&id) {
        object.unique_constraints = keys
            .iter()
            .map(|(name, columns)| UniqueConstraint {
                name: name.clone(),
                columns: ordered(columns.clone()),
            })
            .collect();
    }
    object.foreign_keys = foreign.get(&id).cloned().unwrap_or_default();
    annotate_keys(&mut object);
    object.normalize();
    object
}

/// Foreign keys from `SHOW IMPORTED KEYS`, by the table that holds them. A
/// row that does not name the key's target (an emulator's) is left out.
fn foreign_keys(imported: &ResultSet) -> HashMap<SchemaId, Vec<ForeignKey>> {
    /// One key's rows, gathered: its target, (sequence, column, target
    /// column) pairs, and its rules.
    struct Gathered {
        target: SchemaId,
        pairs: Vec<(i64, String, String)>,
        on_delete: Option<String>,
        on_update: Option<String>,
    }
    let mut keys: HashMap<(SchemaId, String), Gathered> = HashMap::new();
    for row in imported.records() {
        let holder = SchemaId::new(
            row.text("fk_schema_name").unwrap_or_default(),
            row.text("fk_table_name").unwrap_or_default(),
        );
        let (Some(target_schema), Some(target_table)) = (
            nonempty(row.text("pk_schema_name")),
            nonempty(row.text("pk_table_name")),
        ) else {
            continue;
        };
        let (Some(fk_column), Some(pk_column)) = (
            nonempty(row.text("fk_column_name")),
            nonempty(row.text("pk_column_name")),
        ) else {
            continue;
        };
        let name = row.text("fk_name").unwrap_or_default();
        let entry = keys.entry((holder, name)).or_insert_with(|| Gathered {
            target: SchemaId::new(target_schema, target_table),
            pairs: vec![],
            on_delete: nonempty(row.text("delete_rule")),
            on_update: nonempty(row.text("update_rule")),
        });
        entry
            .pairs
            .push((row.int("key_sequence").unwrap_or(0), fk_column, pk_column));
    }
    let mut by_table: HashMap<SchemaId, Vec<ForeignKey>> = HashMap::new();
    for ((holder, name), mut key) in keys {
        key.pairs.sort();
        by_table.entry(holder).or_default().push(ForeignKey {
            name,
            columns: key.pairs.iter().map(|(_, c, _)| c.clone()).collect(),
            references: Reference {
                schema_id: key.target.to_string(),
                fields: key.pairs.iter().map(|(_, _, p)| p.clone()).collect(),
            },
            on_delete: key.on_delete,
            on_update: key.on_update,
        });
    }
    by_table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::results::Column;

    fn set(names: &[&str], rows: Vec<Vec<Value>>) -> ResultSet {
        ResultSet {
            columns: names
                .iter()
                .map(|n| Column {
                    name: (*n).into(),
                    kind: "text".into(),
                    scale: 0,
                })
                .collect(),
            rows,
            bytes: 0,
        }
    }

    /// What the real service answers and fakesnow 0.12 does not: views in
    /// `INFORMATION_SCHEMA.TABLES`, column comments, `ARRAY` columns, keys
    /// database-wide with both sides of a foreign key.
    #[test]
    fn the_real_services_catalog_assembles_with_keys_comments_and_views() {
        let tables = set(
            &[
                "TABLE_SCHEMA",
                "TABLE_NAME",
                "TABLE_TYPE",
                "LAST_DDL",
                "ROW_COUNT",
                "BYTES",
                "CLUSTERING_KEY",
                "IS_TRANSIENT",
                "IS_DYNAMIC",
                "COMMENT",
            ],
            vec![
                vec![
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("BASE TABLE"),
                    json!("2026-11-30T10:00:00Z"),
                    json!(1200),
                    json!(65536),
                    json!("LINEAR(ID)"),
                    json!("NO"),
                    json!("NO"),
                    json!("orders"),
                ],
                vec![
                    json!("SALES"),
                    json!("CUSTOMERS"),
                    json!("BASE TABLE"),
                    json!("2026-11-30T10:00:00Z"),
                    json!(10),
                    json!(2048),
                    json!(null),
                    json!("YES"),
                    json!("NO"),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("BIG_ORDERS"),
                    json!("VIEW"),
                    json!("2026-11-30T10:00:00Z"),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!("NO"),
                    json!("NO"),
                    json!(null),
                ],
            ],
        );
        let views = set(
            &[
                "name",
                "schema_name",
                "comment",
                "text",
                "is_secure",
                "is_materialized",
            ],
            vec![vec![
                json!("BIG_ORDERS"),
                json!("SALES"),
                json!("large ones"),
                json!("create view …"),
                json!(true),
                json!(false),
            ]],
        );
        let columns = set(
            &[
                "TABLE_SCHEMA",
                "TABLE_NAME",
                "COLUMN_NAME",
                "ORDINAL_POSITION",
                "IS_NULLABLE",
                "DATA_TYPE",
                "CHARACTER_MAXIMUM_LENGTH",
                "NUMERIC_PRECISION",
                "NUMERIC_SCALE",
                "DATETIME_PRECISION",
                "COMMENT",
                "COLUMN_DEFAULT",
            ],
            vec![
                vec![
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("ID"),
                    json!(1),
                    json!("NO"),
                    json!("NUMBER"),
                    json!(null),
                    json!(38),
                    json!(0),
                    json!(null),
                    json!("the id"),
                    json!("SALES.ORDER_SEQ.NEXTVAL"),
                ],
                vec![
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("CUSTOMER_ID"),
                    json!(2),
                    json!("YES"),
                    json!("NUMBER"),
                    json!(null),
                    json!(38),
                    json!(0),
                    json!(null),
                    json!(null),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("TAGS"),
                    json!(3),
                    json!("YES"),
                    json!("ARRAY"),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("AT"),
                    json!(4),
                    json!("YES"),
                    json!("TIMESTAMP_TZ"),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(9),
                    json!(null),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("CUSTOMERS"),
                    json!("ID"),
                    json!(1),
                    json!("NO"),
                    json!("NUMBER"),
                    json!(null),
                    json!(38),
                    json!(0),
                    json!(null),
                    json!(null),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("CUSTOMERS"),
                    json!("EMAIL"),
                    json!(2),
                    json!("NO"),
                    json!("TEXT"),
                    json!(320),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(null),
                    json!(null),
                ],
                vec![
                    json!("SALES"),
                    json!("BIG_ORDERS"),
                    json!("ID"),
                    json!(1),
                    json!("YES"),
                    json!("NUMBER"),
                    json!(null),
                    json!(38),
                    json!(0),
                    json!(null),
                    json!(null),
                    json!(null),
                ],
            ],
        );
        let keys = Keys {
            primary: set(
                &[
                    "schema_name",
                    "table_name",
                    "column_name",
                    "key_sequence",
                    "constraint_name",
                ],
                vec![
                    vec![
                        json!("SALES"),
                        json!("ORDERS"),
                        json!("ID"),
                        json!(1),
                        json!("PK_ORDERS"),
                    ],
                    vec![
                        json!("SALES"),
                        json!("CUSTOMERS"),
                        json!("ID"),
                        json!(1),
                        json!("PK_CUSTOMERS"),
                    ],
                ],
            ),
            unique: set(
                &[
                    "schema_name",
                    "table_name",
                    "column_name",
                    "key_sequence",
                    "constraint_name",
                ],
                vec![vec![
                    json!("SALES"),
                    json!("CUSTOMERS"),
                    json!("EMAIL"),
                    json!(1),
                    json!("UQ_EMAIL"),
                ]],
            ),
            imported: set(
                &[
                    "pk_schema_name",
                    "pk_table_name",
                    "pk_column_name",
                    "fk_schema_name",
                    "fk_table_name",
                    "fk_column_name",
                    "key_sequence",
                    "fk_name",
                    "delete_rule",
                    "update_rule",
                ],
                vec![vec![
                    json!("SALES"),
                    json!("CUSTOMERS"),
                    json!("ID"),
                    json!("SALES"),
                    json!("ORDERS"),
                    json!("CUSTOMER_ID"),
                    json!(1),
                    json!("FK_CUSTOMER"),
                    json!("NO ACTION"),
                    json!("NO ACTION"),
                ]],
            ),
        };
        let scope = IntrospectionScope::default();
        let listed = listing(&tables, &views, &scope);
        assert!(listed.iter().all(|l| l.last_ddl.is_some()));
        let (objects, failures) = assemble(&listed, &columns, &keys);
        assert!(failures.is_empty());
        let by_name: HashMap<&str, &SchemaObject> =
            objects.iter().map(|o| (o.name.as_str(), o)).collect();
        let orders = by_name["ORDERS"];
        assert_eq!(orders.primary_keys, vec!["ID"]);
        assert_eq!(orders.comment.as_deref(), Some("orders"));
        assert_eq!(orders.row_estimate, Some(1200));
        assert_eq!(orders.properties["clustering_key"], "LINEAR(ID)");
        assert_eq!(orders.properties["bytes"], 65536);
        assert_eq!(orders.fields[0].comment.as_deref(), Some("the id"));
        assert!(orders.fields[0].is_auto_increment);
        assert_eq!(orders.fields[2].remote_type, "ARRAY");
        assert_eq!(orders.fields[2].field_type, schemata_core::FieldType::Array);
        assert_eq!(orders.fields[3].remote_type, "TIMESTAMP_TZ(9)");
        assert_eq!(
            orders.foreign_keys[0].references.schema_id,
            "SALES.CUSTOMERS"
        );
        assert_eq!(
            orders.fields[1]
                .association
                .as_ref()
                .map(|a| a.field.as_str()),
            Some("ID")
        );
        let customers = by_name["CUSTOMERS"];
        assert_eq!(customers.properties["transient"], true);
        assert_eq!(customers.unique_constraints[0].columns, vec!["EMAIL"]);
        assert_eq!(customers.fields[1].remote_type, "VARCHAR(320)");
        let view = by_name["BIG_ORDERS"];
        assert_eq!(view.kind, ObjectKind::View);
        assert_eq!(view.comment.as_deref(), Some("large ones"));
        assert_eq!(view.properties["secure"], true);
        assert_eq!(view.row_estimate, None);

        // Loading rows changes the row count and bytes, not the fingerprint.
        let before = fingerprint(&tables, &listed, &keys, &scope);
        let mut grown = tables.clone();
        grown.rows[0][4] = json!(5000);
        grown.rows[0][5] = json!(1 << 20);
        assert_eq!(
            fingerprint(&grown, &listing(&grown, &views, &scope), &keys, &scope),
            before
        );
        let mut altered = tables.clone();
        altered.rows[0][3] = json!("2026-12-01T09:00:00Z");
        assert_ne!(
            fingerprint(&altered, &listing(&altered, &views, &scope), &keys, &scope),
            before
        );

        // The same fingerprint, stored by a complete refresh: no columns read.
        let mut known = scope.clone();
        known.known.catalog_state = Some(json!({"fingerprint": before, "complete": true}));
        assert!(unchanged(&listed, &before, &known));
        let mut failed_last_time = known.clone();
        failed_last_time.known.catalog_state =
            Some(json!({"fingerprint": before, "complete": false}));
        assert!(!unchanged(&listed, &before, &failed_last_time));
        let mut soft_kept = known.clone();
        soft_kept.known.cache_keeps_unlisted = true;
        assert!(!unchanged(&listed, &before, &soft_kept));
        let mut partial = known.clone();
        partial.options.hard_refresh = false;
        partial.options.schemas = vec!["SALES".into()];
        assert!(!unchanged(&listed, &before, &partial));
        // Another scope is another fingerprint.
        let mut narrowed = scope.clone();
        narrowed.schema_filter = schemata_core::SchemaFilter::parse(vec!["SALES".into()]).unwrap();
        assert_ne!(fingerprint(&tables, &listed, &keys, &narrowed), before);
        // A table out of scope that changes moves the fingerprint too: a
        // view in scope may read it.
        let mut outside = tables.clone();
        outside.rows.push(vec![
            json!("RAW"),
            json!("EVENTS"),
            json!("BASE TABLE"),
            json!("2026-12-01T00:00:00Z"),
        ]);
        let sales_only = IntrospectionScope {
            schema_filter: schemata_core::SchemaFilter::parse(vec!["SALES".into()]).unwrap(),
            ..scope.clone()
        };
        let listed_sales = listing(&outside, &views, &sales_only);
        let with_raw = fingerprint(&outside, &listed_sales, &keys, &sales_only);
        outside.rows.last_mut().unwrap()[3] = json!("2026-12-02T00:00:00Z");
        assert_ne!(
            fingerprint(&outside, &listed_sales, &keys, &sales_only),
            with_raw
        );
        // An object whose LAST_DDL is unknown is always read.
        let mut unknown = listed.clone();
        unknown[0].last_ddl = None;
        assert!(!unchanged(&unknown, &before, &known));
    }

    #[test]
    fn a_view_without_columns_is_a_partial_failure_and_epoch_times_are_unknown() {
        let tables = set(
            &["TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE", "LAST_DDL"],
            vec![vec![
                json!("S"),
                json!("T"),
                json!("BASE TABLE"),
                json!("1970-01-01T00:00:00Z"),
            ]],
        );
        let views = set(
            &[
                "name",
                "schema_name",
                "comment",
                "text",
                "is_secure",
                "is_materialized",
            ],
            vec![vec![
                json!("BROKEN"),
                json!("S"),
                json!(""),
                json!("create view …"),
                json!(false),
                json!(false),
            ]],
        );
        let listed = listing(&tables, &views, &IntrospectionScope::default());
        assert!(listed.iter().all(|l| l.last_ddl.is_none()));
        let keys = Keys {
            primary: ResultSet::default(),
            unique: ResultSet::default(),
            imported: ResultSet::default(),
        };
        let (objects, failures) = assemble(&listed, &ResultSet::default(), &keys);
        assert_eq!(objects.len(), 1);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].object, "S.BROKEN");
    }
}
