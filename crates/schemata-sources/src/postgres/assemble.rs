//! Catalog rows, joined in memory by relation oid and column number into objects.

use schemata_core::{
    Field, FieldType, ForeignKey, Index, ObjectKind, Reference, SchemaId, SchemaObject,
    UniqueConstraint, annotate_keys,
};
use sqlx::{
    Row,
    postgres::{PgRow, types::Oid},
};
use std::collections::HashMap;

#[derive(sqlx::FromRow, Debug, Clone)]
pub(super) struct ListingRow {
    pub oid: Oid,
    pub schema_name: String,
    pub name: String,
    pub relkind: String,
    pub row_estimate: Option<i64>,
    /// Partitions, or tables that inherit from it.
    pub children: i32,
}

/// The columns of one relation (`queries::COLUMNS`), as parallel arrays.
#[derive(sqlx::FromRow)]
pub(super) struct ColumnsRow {
    pub relid: Oid,
    pub ordinals: Vec<i32>,
    pub names: Vec<String>,
    pub type_oids: Vec<Oid>,
    pub typmods: Vec<i32>,
    pub flags: Vec<i32>,
}

impl ColumnsRow {
    pub const NULLABLE: i32 = 1;
    pub const IDENTITY: i32 = 2;
    pub const GENERATED: i32 = 4;

    pub fn has_generated(&self) -> bool {
        self.flags.iter().any(|f| f & Self::GENERATED != 0)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// (type, typmod) of each column.
    pub fn types(&self) -> impl Iterator<Item = (Oid, i32)> + '_ {
        self.type_oids
            .iter()
            .copied()
            .zip(self.typmods.iter().copied())
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TypeRow {
    pub type_oid: Oid,
    pub typmod: i32,
    pub remote_type: String,
    pub base_name: String,
    pub category: String,
    pub enum_values: Option<Vec<String>>,
}

/// A row of `queries::DEFAULTS`, decoded by position (see `ColumnRow`).
pub(super) struct DefaultRow {
    pub relid: Oid,
    pub ordinal: i32,
    pub expression: Option<String>,
}

impl<'r> sqlx::FromRow<'r, PgRow> for DefaultRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            relid: row.try_get(0)?,
            ordinal: row.try_get(1)?,
            expression: row.try_get(2)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CommentRow {
    pub relid: Oid,
    pub ordinal: i32,
    pub comment: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ConstraintRow {
    pub relid: Oid,
    pub name: String,
    pub kind: String,
    pub columns: Option<Vec<i16>>,
    pub target_oid: Oid,
    pub target_columns: Option<Vec<i16>>,
    pub target_schema: Option<String>,
    pub target_name: Option<String>,
    pub on_update: String,
    pub on_delete: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct NameRow {
    pub relid: Oid,
    pub ordinal: i32,
    pub name: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct IndexRow {
    pub relid: Oid,
    pub name: String,
    pub is_unique: bool,
    pub is_primary: bool,
    pub columns: Vec<i16>,
    pub method: String,
    pub definition: Option<String>,
}

/// Everything read about the relations of one read set.
#[derive(Default)]
pub(super) struct Details {
    pub columns: Vec<ColumnsRow>,
    pub types: Vec<TypeRow>,
    pub defaults: Vec<DefaultRow>,
    pub comments: Vec<CommentRow>,
    pub constraints: Vec<ConstraintRow>,
    /// Column names of foreign-key targets outside the read set.
    pub target_names: Vec<NameRow>,
    pub indexes: Vec<IndexRow>,
}

pub(super) fn object_kind(relkind: &str) -> ObjectKind {
    match relkind {
        "v" => ObjectKind::View,
        "m" => ObjectKind::MaterializedView,
        "p" => ObjectKind::PartitionedTable,
        "f" => ObjectKind::ForeignTable,
        _ => ObjectKind::Table,
    }
}

/// Builds the objects of `relations` from their details. Consumes the rows as
/// it goes, so no second copy of a large catalog is held.
pub(super) fn assemble(relations: &[ListingRow], details: Details) -> Vec<SchemaObject> {
    let types: HashMap<(Oid, i32), TypeRow> = details
        .types
        .into_iter()
        .map(|t| ((t.type_oid, t.typmod), t))
        .collect();
    let mut names: HashMap<(Oid, i32), String> = details
        .target_names
        .into_iter()
        .map(|n| ((n.relid, n.ordinal), n.name))
        .collect();
    let mut fields: HashMap<Oid, Vec<Field>> = HashMap::new();
    for relation in details.columns {
        let relid = relation.relid;
        let mut names_in_order: Vec<(i32, usize, String)> = relation
            .names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    relation.ordinals.get(i).copied().unwrap_or_default(),
                    i,
                    name,
                )
            })
            .collect();
        // In column order now, so that normalizing later moves nothing.
        names_in_order.sort_unstable_by_key(|(ordinal, _, _)| *ordinal);
        let mut built = Vec::with_capacity(names_in_order.len());
        for (ordinal, i, name) in names_in_order {
            let flags = relation.flags.get(i).copied().unwrap_or_default();
            let key = (
                relation.type_oids.get(i).copied().unwrap_or(Oid(0)),
                relation.typmods.get(i).copied().unwrap_or(-1),
            );
            names.insert((relid, ordinal), name.clone());
            let mut field = match types.get(&key) {
                Some(t) => {
                    let mut field = Field::new(
                        name,
                        ordinal,
                        t.remote_type.clone(),
                        FieldType::from_postgres(&t.base_name, &t.category),
                    );
                    field.enum_values.clone_from(&t.enum_values);
                    field
                }
                None => Field::new(name, ordinal, "unknown", FieldType::Unknown),
            };
            field.nullable = flags & ColumnsRow::NULLABLE != 0;
            field.is_auto_increment = flags & ColumnsRow::IDENTITY != 0;
            field.is_generated = flags & ColumnsRow::GENERATED != 0;
            built.push(field);
        }
        fields.insert(relid, built);
    }
    for default in details.defaults {
        let Some(field) = fields
            .get_mut(&default.relid)
            .and_then(|f| f.iter_mut().find(|f| f.ordinal == default.ordinal))
        else {
            continue;
        };
        if field.is_generated {
            field.generation_expression = default.expression;
        } else {
            field.is_auto_increment |= default
                .expression
                .as_deref()
                .is_some_and(|e| e.starts_with("nextval("));
            field.default = default.expression;
        }
    }
    let mut comments: HashMap<Oid, String> = HashMap::new();
    for row in details.comments {
        let Some(comment) = row.comment else { continue };
        if row.ordinal == 0 {
            comments.insert(row.relid, comment);
        } else if let Some(field) = fields
            .get_mut(&row.relid)
            .and_then(|f| f.iter_mut().find(|f| f.ordinal == row.ordinal))
        {
            field.comment = Some(comment);
        }
    }
    let column_names = |relid: Oid, numbers: &[i16]| -> Vec<String> {
        numbers
            .iter()
            .filter_map(|n| names.get(&(relid, i32::from(*n))).cloned())
            .collect()
    };
    let mut keys: HashMap<Oid, Vec<String>> = HashMap::new();
    let mut uniques: HashMap<Oid, Vec<UniqueConstraint>> = HashMap::new();
    let mut foreign: HashMap<Oid, Vec<ForeignKey>> = HashMap::new();
    for row in details.constraints {
        let columns = column_names(row.relid, row.columns.as_deref().unwrap_or_default());
        match row.kind.as_str() {
            "p" => {
                keys.insert(row.relid, columns);
            }
            "u" => uniques
                .entry(row.relid)
                .or_default()
                .push(UniqueConstraint {
                    name: row.name,
                    columns,
                }),
            _ => {
                let (Some(schema), Some(name)) = (row.target_schema, row.target_name) else {
                    continue;
                };
                foreign.entry(row.relid).or_default().push(ForeignKey {
                    name: row.name,
                    columns,
                    references: Reference {
                        schema_id: SchemaId::new(schema, name).to_string(),
                        fields: column_names(
                            row.target_oid,
                            row.target_columns.as_deref().unwrap_or_default(),
                        ),
                    },
                    on_delete: action(&row.on_delete),
                    on_update: action(&row.on_update),
                });
            }
        }
    }
    let mut indexes: HashMap<Oid, Vec<Index>> = HashMap::new();
    let by_oid: HashMap<Oid, &ListingRow> = relations.iter().map(|r| (r.oid, r)).collect();
    for row in details.indexes {
        let columns = column_names(row.relid, &row.columns);
        let definition = row.definition.or_else(|| {
            let relation = by_oid.get(&row.relid)?;
            Some(index_definition(
                relation,
                &row.name,
                row.is_unique,
                &row.method,
                &columns,
            ))
        });
        indexes.entry(row.relid).or_default().push(Index {
            name: row.name,
            columns,
            unique: row.is_unique,
            primary: row.is_primary,
            definition,
        });
    }
    relations
        .iter()
        .map(|relation| {
            let mut object = SchemaObject::new(
                &relation.schema_name,
                &relation.name,
                object_kind(&relation.relkind),
            );
            object.comment = comments.remove(&relation.oid);
            object.row_estimate = relation.row_estimate;
            object.partition_count = (relation.relkind == "p").then_some(relation.children);
            object.primary_keys = keys.remove(&relation.oid).unwrap_or_default();
            object.fields = fields.remove(&relation.oid).unwrap_or_default();
            object.indexes = indexes.remove(&relation.oid).unwrap_or_default();
            object.foreign_keys = foreign.remove(&relation.oid).unwrap_or_default();
            object.unique_constraints = uniques.remove(&relation.oid).unwrap_or_default();
            object.normalize();
            annotate_keys(&mut object);
            object
        })
        .collect()
}

/// A foreign key's ON DELETE / ON UPDATE, when it does anything.
fn action(code: &str) -> Option<String> {
    Some(
        match code {
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            _ => return None,
        }
        .to_owned(),
    )
}

/// What `pg_get_indexdef` says for an index on plain columns with default
/// options, without asking the server once per index.
fn index_definition(
    relation: &ListingRow,
    name: &str,
    unique: bool,
    method: &str,
    columns: &[String],
) -> String {
    let columns: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "CREATE {}INDEX {} ON {}.{} USING {method} ({})",
        if unique { "UNIQUE " } else { "" },
        quote_ident(name),
        quote_ident(&relation.schema_name),
        quote_ident(&relation.name),
        columns.join(", ")
    )
}

/// PostgreSQL's `quote_ident` for the common case: quoted unless a plain lowercase word.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Words `quote_ident` always quotes (PostgreSQL's reserved keywords).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];
