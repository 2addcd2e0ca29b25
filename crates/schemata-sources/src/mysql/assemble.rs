//! `information_schema` rows, joined in memory by (schema, table) into objects.

use super::privileges::Grants;
use schemata_core::{
    Field, FieldType, ForeignKey, Index, ObjectKind, Reference, RefreshFailure, SchemaId,
    SchemaObject, UniqueConstraint, annotate_keys,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};

type Key = (String, String);

#[derive(sqlx::FromRow, Debug, Clone)]
pub(super) struct TableRow {
    pub schema_name: String,
    pub name: String,
    pub table_type: String,
    pub engine: Option<String>,
    pub row_estimate: Option<i64>,
    pub comment: Option<String>,
    pub collation: Option<String>,
    pub create_options: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ColumnRow {
    pub schema_name: String,
    pub table_name: String,
    pub name: String,
    pub ordinal: i64,
    pub default_value: Option<String>,
    pub nullable: String,
    pub data_type: String,
    pub column_type: String,
    pub extra: String,
    pub comment: String,
    pub generation_expression: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct IndexRow {
    pub schema_name: String,
    pub table_name: String,
    pub name: String,
    pub non_unique: i64,
    pub column_name: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ForeignRow {
    pub schema_name: String,
    pub table_name: String,
    pub name: String,
    pub column_name: String,
    pub target_schema: String,
    pub target_table: String,
    pub target_column: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct RuleRow {
    pub schema_name: String,
    pub name: String,
    pub update_rule: String,
    pub delete_rule: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct NamedRow {
    pub schema_name: String,
    pub table_name: String,
    pub name: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct CountRow {
    pub schema_name: String,
    pub table_name: String,
    pub n: i64,
}

/// What one refresh read.
pub(super) struct Catalog {
    pub tables: Vec<TableRow>,
    pub columns: Vec<ColumnRow>,
    pub indexes: Vec<IndexRow>,
    pub foreign_keys: Vec<ForeignRow>,
    pub rules: Vec<RuleRow>,
    pub uniques: Vec<NamedRow>,
    pub partitions: Vec<CountRow>,
    /// Views whose definition no longer resolves, with the server's words.
    pub broken_views: HashMap<Key, String>,
    pub grants: Option<Grants>,
}

/// Builds the objects, and the failures of objects that could not be read.
pub(super) fn assemble(catalog: Catalog) -> (Vec<SchemaObject>, Vec<RefreshFailure>) {
    let mut fields: HashMap<Key, Vec<Field>> = HashMap::new();
    for column in catalog.columns {
        let key = (column.schema_name.clone(), column.table_name.clone());
        fields.entry(key).or_default().push(field(column));
    }
    let mut keys: HashMap<Key, Vec<String>> = HashMap::new();
    let mut index_columns: BTreeMap<(Key, String), (Vec<String>, bool)> = BTreeMap::new();
    for row in catalog.indexes {
        let key = (row.schema_name, row.table_name);
        let entry = index_columns
            .entry((key, row.name))
            .or_insert_with(|| (vec![], row.non_unique == 0));
        // A functional index part (MySQL 8) has no column name.
        if let Some(column) = row.column_name {
            entry.0.push(column);
        }
    }
    let mut indexes: HashMap<Key, Vec<Index>> = HashMap::new();
    for ((key, name), (columns, unique)) in index_columns {
        let primary = name == "PRIMARY";
        if primary {
            keys.insert(key.clone(), columns.clone());
        }
        indexes.entry(key).or_default().push(Index {
            definition: None,
            name,
            columns,
            unique,
            primary,
        });
    }
    let unique_names: HashSet<(Key, String)> = catalog
        .uniques
        .into_iter()
        .map(|r| ((r.schema_name, r.table_name), r.name))
        .collect();
    let rules: HashMap<Key, (String, String)> = catalog
        .rules
        .into_iter()
        .map(|r| ((r.schema_name, r.name), (r.update_rule, r.delete_rule)))
        .collect();
    let mut foreign: HashMap<Key, Vec<ForeignKey>> = HashMap::new();
    for row in catalog.foreign_keys {
        let key = (row.schema_name.clone(), row.table_name.clone());
        let list = foreign.entry(key).or_default();
        let target = SchemaId::new(&row.target_schema, &row.target_table).to_string();
        match list.iter_mut().find(|k| k.name == row.name) {
            Some(existing) => {
                existing.columns.push(row.column_name);
                existing.references.fields.push(row.target_column);
            }
            None => {
                let (on_update, on_delete) = rules
                    .get(&(row.schema_name.clone(), row.name.clone()))
                    .cloned()
                    .unwrap_or_default();
                list.push(ForeignKey {
                    name: row.name,
                    columns: vec![row.column_name],
                    references: Reference {
                        schema_id: target,
                        fields: vec![row.target_column],
                    },
                    on_delete: rule(&on_delete),
                    on_update: rule(&on_update),
                });
            }
        }
    }
    let partitions: HashMap<Key, i64> = catalog
        .partitions
        .into_iter()
        .map(|p| ((p.schema_name, p.table_name), p.n))
        .collect();
    let mut objects = Vec::new();
    let mut failures = Vec::new();
    for table in catalog.tables {
        let key = (table.schema_name.clone(), table.name.clone());
        let id = SchemaId::new(&table.schema_name, &table.name);
        if let Some(reason) = catalog.broken_views.get(&key) {
            failures.push(RefreshFailure {
                object: id.to_string(),
                error: format!("the view's definition no longer resolves: {reason}"),
            });
            continue;
        }
        if let Some(grants) = &catalog.grants
            && !grants.can_select(&table.schema_name, &table.name)
        {
            failures.push(RefreshFailure {
                object: id.to_string(),
                error: "permission denied".into(),
            });
            continue;
        }
        let partition_count = partitions.get(&key).copied();
        let kind = match (table.table_type.as_str(), partition_count) {
            ("VIEW" | "SYSTEM VIEW", _) => ObjectKind::View,
            (_, Some(_)) => ObjectKind::PartitionedTable,
            _ => ObjectKind::Table,
        };
        let mut object = SchemaObject::new(&table.schema_name, &table.name, kind);
        object.comment = table
            .comment
            // MariaDB says "VIEW" in a view's comment.
            .filter(|c| !(c.is_empty() || kind == ObjectKind::View && c == "VIEW"));
        object.row_estimate = table.row_estimate.filter(|_| kind != ObjectKind::View);
        object.partition_count = partition_count.and_then(|n| i32::try_from(n).ok());
        object.primary_keys = keys.remove(&key).unwrap_or_default();
        object.fields = fields.remove(&key).unwrap_or_default();
        let table_indexes = indexes.remove(&key).unwrap_or_default();
        object.unique_constraints = table_indexes
            .iter()
            .filter(|i| unique_names.contains(&(key.clone(), i.name.clone())))
            .map(|i| UniqueConstraint {
                name: i.name.clone(),
                columns: i.columns.clone(),
            })
            .collect();
        object.indexes = table_indexes;
        object.foreign_keys = foreign.remove(&key).unwrap_or_default();
        for (property, value) in [("engine", table.engine), ("collation", table.collation)] {
            if let Some(value) = value {
                object.properties.insert(property.into(), json!(value));
            }
        }
        if table
            .create_options
            .is_some_and(|o| o.contains("partitioned"))
        {
            object.properties.insert("partitioned".into(), json!(true));
        }
        object.normalize();
        annotate_keys(&mut object);
        objects.push(object);
    }
    (objects, failures)
}

fn field(column: ColumnRow) -> Field {
    let mut field = Field::new(
        column.name,
        i32::try_from(column.ordinal).unwrap_or(i32::MAX),
        column.column_type.clone(),
        FieldType::from_mysql(&column.data_type, &column.column_type),
    );
    field.nullable = column.nullable == "YES";
    let extra = column.extra.to_ascii_lowercase();
    field.is_auto_increment = extra.contains("auto_increment");
    field.is_generated = extra.contains("generated");
    field.generation_expression = column.generation_expression.filter(|e| !e.is_empty());
    // MariaDB spells "no default" on a nullable column as the string NULL.
    field.default = column
        .default_value
        .filter(|d| !(d == "NULL" || field.is_generated));
    field.comment = Some(column.comment).filter(|c| !c.is_empty());
    let data_type = column.data_type.to_ascii_lowercase();
    if data_type == "enum" || data_type == "set" {
        field.enum_values = Some(enum_values(&column.column_type));
    }
    field
}

/// `enum('a','b''c')` → `["a", "b'c"]`.
pub(super) fn enum_values(column_type: &str) -> Vec<String> {
    let inside = column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or("", |(inside, _)| inside);
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = inside.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('\'', false) => quoted = true,
            ('\'', true) if chars.peek() == Some(&'\'') => {
                current.push('\'');
                chars.next();
            }
            ('\'', true) => {
                quoted = false;
                values.push(std::mem::take(&mut current));
            }
            (c, true) => current.push(c),
            _ => {}
        }
    }
    values
}

fn rule(rule: &str) -> Option<String> {
    match rule {
        "" | "NO ACTION" => None,
        other => Some(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_and_set_values_are_read_from_the_column_type() {
        assert_eq!(enum_values("enum('G','PG','PG-13')"), ["G", "PG", "PG-13"]);
        assert_eq!(enum_values("set('a,b','it''s')"), ["a,b", "it's"]);
        assert!(enum_values("int(11)").is_empty());
    }
}
