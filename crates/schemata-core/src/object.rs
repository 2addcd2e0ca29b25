//! What the cache holds about one table or view of a source.

use crate::{FieldType, SchemaId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest comment, default, generation expression or index definition the
/// cache keeps, in characters; longer ones are cut to end in `…`.
pub const MAX_TEXT: usize = 8192;

/// Properties that measure data rather than describe structure (a
/// Snowflake table's `bytes`): kept and shown, but, like the row estimate,
/// outside the content hash and the diff, so that loading rows is not a
/// schema change.
pub const STATISTICS: [&str; 1] = ["bytes"];

/// A table, view or other relation of a source, with its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub schema: String,
    pub name: String,
    pub kind: ObjectKind,
    pub comment: Option<String>,
    /// The source's own estimate (e.g. `pg_class.reltuples`); not part of the content hash.
    pub row_estimate: Option<i64>,
    /// For a partitioned table: how many partitions stand behind it.
    pub partition_count: Option<i32>,
    /// Detected primary key columns in key order.
    pub primary_keys: Vec<String>,
    pub fields: Vec<Field>,
    pub indexes: Vec<Index>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    pub unique_constraints: Vec<UniqueConstraint>,
    /// Source-specific details: a MySQL table's engine, SQLite's `WITHOUT ROWID`…
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

impl SchemaObject {
    pub fn id(&self) -> SchemaId {
        SchemaId::new(&self.schema, &self.name)
    }

    /// An empty object of `kind`, to be filled in by a source.
    pub fn new(schema: impl Into<String>, name: impl Into<String>, kind: ObjectKind) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
            kind,
            comment: None,
            row_estimate: None,
            partition_count: None,
            primary_keys: vec![],
            fields: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            unique_constraints: vec![],
            properties: Map::new(),
        }
    }

    /// Puts fields, indexes and constraints in their canonical order.
    pub fn normalize(&mut self) {
        let texts = self
            .comment
            .iter_mut()
            .chain(self.fields.iter_mut().flat_map(|f| {
                f.comment
                    .iter_mut()
                    .chain(f.default.iter_mut())
                    .chain(f.generation_expression.iter_mut())
                    .chain(f.enum_values.iter_mut().flatten())
            }))
            .chain(
                self.indexes
                    .iter_mut()
                    .flat_map(|i| i.definition.iter_mut()),
            );
        for text in texts {
            // PostgreSQL text cannot hold NUL, which MySQL comments and SQLite
            // defaults can: it becomes U+FFFD rather than failing the write.
            if text.contains('\0') {
                *text = text.replace('\0', "\u{FFFD}");
            }
            // A source's free text is the source's to keep: past MAX_TEXT
            // characters it is cut, and says so.
            if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
                text.truncate(cut);
                text.pop();
                text.push('…');
            }
        }
        self.fields.sort_by_key(|f| f.ordinal);
        self.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        self.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
        self.unique_constraints.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The properties without [`STATISTICS`].
    pub fn structural_properties(&self) -> Map<String, Value> {
        let mut properties = self.properties.clone();
        for statistic in STATISTICS {
            properties.remove(statistic);
        }
        properties
    }

    /// `sha256:<hex>` of the structure (row estimates left out): equal objects,
    /// equal hashes, across runs and restarts. Expects a normalized object.
    pub fn content_hash(&self) -> String {
        crate::StoredForm::of(self).content_hash
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    /// 1-based position in the source.
    pub ordinal: i32,
    /// The source's own spelling, e.g. `character varying(64)`.
    pub remote_type: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    // Defaults on read: the cache stores fields without false and null values
    // (see `StoredForm`), the API shows every one.
    #[serde(default)]
    pub nullable: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub is_primary_key: bool,
    /// The first foreign key this field belongs to.
    #[serde(default)]
    pub association: Option<Association>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_generated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_expression: Option<String>,
    /// Filled in by the source (identity, serial, AUTO_INCREMENT, rowid alias).
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_auto_increment: bool,
    /// The allowed values of an enum (or a MySQL `SET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    /// Sources whose fields are inferred from sampled items (DynamoDB): the
    /// share of sampled items that had this field, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Field {
    /// A plain nullable field; sources set the rest.
    pub fn new(
        name: impl Into<String>,
        ordinal: i32,
        remote_type: impl Into<String>,
        field_type: FieldType,
    ) -> Self {
        Self {
            name: name.into(),
            ordinal,
            remote_type: remote_type.into(),
            field_type,
            nullable: true,
            default: None,
            is_primary_key: false,
            association: None,
            comment: None,
            is_generated: false,
            generation_expression: None,
            is_auto_increment: false,
            enum_values: None,
            coverage: None,
        }
    }
}

/// A foreign key target, as one field sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    pub schema_id: String,
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
    pub definition: Option<String>,
}

/// A foreign key, with every column of a multi-column key in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub schema_id: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    PartitionedTable,
    ForeignTable,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 5] = [
        Self::Table,
        Self::View,
        Self::MaterializedView,
        Self::PartitionedTable,
        Self::ForeignTable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::View => "view",
            Self::MaterializedView => "materialized_view",
            Self::PartitionedTable => "partitioned_table",
            Self::ForeignTable => "foreign_table",
        }
    }

    /// Views of every flavour count as views in refresh summaries.
    pub fn is_view(self) -> bool {
        matches!(self, Self::View | Self::MaterializedView)
    }
}

impl crate::Named for ObjectKind {
    const WHAT: &'static str = "object kind";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(ObjectKind);

/// Links each field to the first foreign key it belongs to (by constraint name)
/// and marks primary-key fields: the per-field view of the object's keys.
pub fn annotate_keys(object: &mut SchemaObject) {
    let mut keys: Vec<&ForeignKey> = object.foreign_keys.iter().collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    for field in &mut object.fields {
        field.is_primary_key = object.primary_keys.contains(&field.name);
        field.association = keys.iter().find_map(|key| {
            let position = key.columns.iter().position(|c| *c == field.name)?;
            Some(Association {
                schema_id: key.references.schema_id.clone(),
                field: key.references.fields.get(position)?.clone(),
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_cuts_long_text_with_a_mark_and_replaces_nul() {
        let mut object = SchemaObject::new("s", "t", ObjectKind::Table);
        object.comment = Some("é".repeat(MAX_TEXT + 5));
        let mut field = Field::new("f", 1, "text", FieldType::String);
        field.default = Some("a\0b".into());
        field.comment = Some("x".repeat(MAX_TEXT));
        object.fields.push(field);
        object.normalize();
        let comment = object.comment.unwrap();
        assert_eq!(comment.chars().count(), MAX_TEXT);
        assert!(comment.ends_with('…'));
        assert_eq!(object.fields[0].default.as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(
            object.fields[0].comment.as_deref().map(str::len),
            Some(MAX_TEXT),
            "text of exactly the limit is kept whole"
        );
    }
}
