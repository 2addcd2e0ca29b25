//! A set of objects read from one source, and the version of a cache.

use crate::{SchemaId, SchemaObject};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Objects introspected from one source at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub objects: Vec<SchemaObject>,
}

impl Snapshot {
    /// Sorts objects by id and each object's parts, so equal schemas compare and hash equal.
    pub fn normalize(&mut self) {
        self.objects
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for object in &mut self.objects {
            object.normalize();
        }
    }

    /// The version of a cache holding exactly these objects.
    pub fn version(&self) -> String {
        let mut normalized = self.clone();
        normalized.normalize();
        schema_version(
            normalized
                .objects
                .iter()
                .map(|o| (o.id(), o.content_hash())),
        )
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

/// `sha256:<hex>` over every object's id and content hash, in id order: the
/// cache's `schema_version` and ETag. Computed from stored hashes, so a
/// refresh that rewrites a few objects never has to reload the others.
pub fn schema_version(objects: impl IntoIterator<Item = (SchemaId, String)>) -> String {
    let mut entries: Vec<(SchemaId, String)> = objects.into_iter().collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (id, hash) in entries {
        hasher.update(id.schema.as_bytes());
        hasher.update([0]);
        hasher.update(id.name.as_bytes());
        hasher.update([0]);
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Field, FieldType, ObjectKind};

    pub fn field(name: &str, ordinal: i32, remote_type: &str) -> Field {
        Field::new(name, ordinal, remote_type, FieldType::String)
    }

    pub fn table(schema: &str, name: &str, fields: Vec<Field>) -> SchemaObject {
        let mut object = SchemaObject::new(schema, name, ObjectKind::Table);
        object.fields = fields;
        object
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
        let mut reordered = a.clone();
        reordered.fields.reverse();
        let two = Snapshot {
            objects: vec![estimated, reordered],
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

    #[test]
    fn the_version_is_the_same_whether_computed_from_objects_or_stored_hashes() {
        let objects = vec![
            table("sales", "orders", vec![field("id", 1, "int")]),
            table("public", "users", vec![field("id", 1, "int")]),
        ];
        let snapshot = Snapshot {
            objects: objects.clone(),
        };
        let from_hashes = schema_version(objects.iter().map(|o| (o.id(), o.content_hash())));
        assert_eq!(snapshot.version(), from_hashes);
        assert_ne!(
            schema_version([(SchemaId::new("a", "b.c"), "h".into())]),
            schema_version([(SchemaId::new("a.b", "c"), "h".into())]),
            "ids are hashed unambiguously"
        );
    }
}
