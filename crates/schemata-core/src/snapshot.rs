use crate::{FieldType, SchemaId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::str::FromStr;

/// Everything introspected from one source at one moment: the cache's unit of replacement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub objects: Vec<SchemaObject>,
}

/// A table, view or other relation of a source, with its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub schema: String,
    pub name: String,
    pub kind: ObjectKind,
    pub comment: Option<String>,
    /// The source's own estimate (e.g. `pg_class.reltuples`); not part of `schema_version`.
    pub row_estimate: Option<i64>,
    /// For a partitioned table: how many partitions stand behind it.
    pub partition_count: Option<i32>,
    /// Detected primary key columns in key order.
    pub primary_keys: Vec<String>,
    pub fields: Vec<Field>,
    pub indexes: Vec<Index>,
}

impl SchemaObject {
    pub fn id(&self) -> SchemaId {
        SchemaId::new(&self.schema, &self.name)
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
    pub nullable: bool,
    pub default: Option<String>,
    pub is_primary_key: bool,
    pub association: Option<Association>,
    pub comment: Option<String>,
}

/// A foreign key target.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl FromStr for ObjectKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown object kind `{s}`"))
    }
}

impl Snapshot {
    /// Sorts objects by id and fields by ordinal, so equal schemas compare and hash equal.
    pub fn normalize(&mut self) {
        self.objects
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for object in &mut self.objects {
            object.fields.sort_by_key(|f| f.ordinal);
            object.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    /// `sha256:<hex>` over the structure (not row estimates): the cache's ETag.
    pub fn version(&self) -> String {
        let mut normalized = self.clone();
        normalized.normalize();
        let mut hasher = Sha256::new();
        for object in &mut normalized.objects {
            object.row_estimate = None;
            hasher.update(serde_json::to_vec(&object).unwrap_or_default());
            hasher.update(b"\n");
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }

    /// The cache after a refresh that read `fresh`: a hard refresh replaces the
    /// cache; a soft one only adds or updates objects and never removes any.
    pub fn after_refresh(&self, fresh: Snapshot, hard_refresh: bool) -> Snapshot {
        if hard_refresh {
            return fresh;
        }
        let refreshed: std::collections::HashSet<SchemaId> =
            fresh.objects.iter().map(SchemaObject::id).collect();
        let mut objects: Vec<SchemaObject> = self
            .objects
            .iter()
            .filter(|o| !refreshed.contains(&o.id()))
            .cloned()
            .collect();
        objects.extend(fresh.objects);
        let mut merged = Snapshot { objects };
        merged.normalize();
        merged
    }

    pub fn table_count(&self) -> usize {
        self.objects.iter().filter(|o| !o.kind.is_view()).count()
    }

    pub fn view_count(&self) -> usize {
        self.objects.iter().filter(|o| o.kind.is_view()).count()
    }

    pub fn column_count(&self) -> usize {
        self.objects.iter().map(|o| o.fields.len()).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn field(name: &str, ordinal: i32, remote_type: &str) -> Field {
        Field {
            name: name.into(),
            ordinal,
            remote_type: remote_type.into(),
            field_type: FieldType::String,
            nullable: true,
            default: None,
            is_primary_key: false,
            association: None,
            comment: None,
        }
    }

    pub fn table(schema: &str, name: &str, fields: Vec<Field>) -> SchemaObject {
        SchemaObject {
            schema: schema.into(),
            name: name.into(),
            kind: ObjectKind::Table,
            comment: None,
            row_estimate: None,
            partition_count: None,
            primary_keys: vec![],
            fields,
            indexes: vec![],
        }
    }

    #[test]
    fn soft_refresh_keeps_objects_it_did_not_read_and_hard_refresh_drops_them() {
        let old = Snapshot {
            objects: vec![table("public", "a", vec![]), table("public", "b", vec![])],
        };
        let fresh = Snapshot {
            objects: vec![table("public", "b", vec![field("id", 1, "int")])],
        };
        let soft = old.after_refresh(fresh.clone(), false);
        assert_eq!(soft.objects.len(), 2);
        assert_eq!(
            soft.objects[1].fields.len(),
            1,
            "b is replaced by its fresh version"
        );
        let hard = old.after_refresh(fresh, true);
        assert_eq!(hard.objects.len(), 1);
    }

    #[test]
    fn version_ignores_order_and_row_estimates_but_not_structure() {
        let a = table(
            "public",
            "a",
            vec![field("id", 1, "integer"), field("x", 2, "text")],
        );
        let b = table("public", "b", vec![field("id", 1, "integer")]);
        let one = Snapshot {
            objects: vec![a.clone(), b.clone()],
        };
        let mut estimated = b.clone();
        estimated.row_estimate = Some(42);
        let two = Snapshot {
            objects: vec![estimated, a.clone()],
        };
        assert_eq!(one.version(), two.version());

        let mut changed = a;
        changed.fields[1].remote_type = "varchar".into();
        let three = Snapshot {
            objects: vec![changed, b],
        };
        assert_ne!(one.version(), three.version());
        assert!(one.version().starts_with("sha256:"));
    }
}
