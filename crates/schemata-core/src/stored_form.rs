//! An object as the cache stores it: the JSON columns serialized once, and the
//! content hash computed over those same bytes, so a large refresh serializes
//! each object one time (not once to hash it and once again to write it).
//! Fields leave out their false and null values there: a 10,000-table catalog
//! has 200,000 of them, and the full form is half nulls. Reading them back
//! gives the same `Field`s.

use crate::{Field, SchemaObject};
use serde::{Serialize, Serializer, ser::SerializeMap};
use sha2::{Digest, Sha256};

/// The JSON text of an object's structured parts, and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredForm {
    pub fields: String,
    pub indexes: String,
    pub foreign_keys: String,
    pub unique_constraints: String,
    pub properties: String,
    /// The objects its foreign keys point at (`schema.name` ids), for readers
    /// that need the graph without parsing `foreign_keys`.
    pub refers_to: Vec<String>,
    /// `sha256:<hex>` of everything but the row estimate and the statistics
    /// among the properties ([`crate::object::STATISTICS`]).
    pub content_hash: String,
}

impl StoredForm {
    /// Serializes a normalized object. The hash covers a JSON array of its
    /// parts in a fixed order: equal objects, equal hashes, across runs.
    pub fn of(object: &SchemaObject) -> Self {
        let fields = to_json(&CompactFields(&object.fields));
        let indexes = to_json(&object.indexes);
        let foreign_keys = to_json(&object.foreign_keys);
        let unique_constraints = to_json(&object.unique_constraints);
        let properties = to_json(&object.properties);
        let hashed_properties = to_json(&object.structural_properties());
        let mut hasher = Sha256::new();
        let scalars = to_json(&(
            &object.schema,
            &object.name,
            object.kind,
            &object.comment,
            object.partition_count,
            &object.primary_keys,
        ));
        // `[…scalars, fields, indexes, …]`: the scalar array without its `]`.
        hasher.update(&scalars.as_bytes()[..scalars.len() - 1]);
        for part in [
            &fields,
            &indexes,
            &foreign_keys,
            &unique_constraints,
            &hashed_properties,
        ] {
            hasher.update(b",");
            hasher.update(part.as_bytes());
        }
        hasher.update(b"]");
        Self {
            refers_to: object
                .foreign_keys
                .iter()
                .map(|k| k.references.schema_id.clone())
                .collect(),
            fields,
            indexes,
            foreign_keys,
            unique_constraints,
            properties,
            content_hash: format!("sha256:{}", hex::encode(hasher.finalize())),
        }
    }
}

/// Fields as stored: what is set, nothing else.
struct CompactFields<'a>(&'a [Field]);

impl Serialize for CompactFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(CompactField))
    }
}

struct CompactField<'a>(&'a Field);

impl Serialize for CompactField<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let field = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &field.name)?;
        map.serialize_entry("ordinal", &field.ordinal)?;
        map.serialize_entry("remote_type", &field.remote_type)?;
        map.serialize_entry("type", &field.field_type)?;
        let flags = [
            ("nullable", field.nullable),
            ("is_primary_key", field.is_primary_key),
            ("is_generated", field.is_generated),
            ("is_auto_increment", field.is_auto_increment),
        ];
        for (name, set) in flags {
            if set {
                map.serialize_entry(name, &true)?;
            }
        }
        if let Some(default) = &field.default {
            map.serialize_entry("default", default)?;
        }
        if let Some(association) = &field.association {
            map.serialize_entry("association", association)?;
        }
        if let Some(comment) = &field.comment {
            map.serialize_entry("comment", comment)?;
        }
        if let Some(expression) = &field.generation_expression {
            map.serialize_entry("generation_expression", expression)?;
        }
        if let Some(values) = &field.enum_values {
            map.serialize_entry("enum_values", values)?;
        }
        if let Some(coverage) = &field.coverage {
            map.serialize_entry("coverage", coverage)?;
        }
        map.end()
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("cached objects always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Field, FieldType, ObjectKind};

    fn object() -> SchemaObject {
        let mut object = SchemaObject::new("public", "t", ObjectKind::Table);
        object
            .fields
            .push(Field::new("id", 1, "integer", FieldType::Integer));
        object
    }

    #[test]
    fn the_hash_ignores_the_row_estimate_and_follows_everything_else() {
        let base = StoredForm::of(&object()).content_hash;
        let mut estimated = object();
        estimated.row_estimate = Some(42);
        assert_eq!(StoredForm::of(&estimated).content_hash, base);
        let mut commented = object();
        commented.comment = Some("c".into());
        assert_ne!(StoredForm::of(&commented).content_hash, base);
        let mut renamed = object();
        renamed.fields[0].name = "key".into();
        assert_ne!(StoredForm::of(&renamed).content_hash, base);
        let mut described = object();
        described
            .properties
            .insert("engine".into(), serde_json::json!("InnoDB"));
        assert_ne!(StoredForm::of(&described).content_hash, base);
    }

    #[test]
    fn the_stored_text_reads_back_as_the_same_parts() {
        let mut object = object();
        let mut full = Field::new("kind", 2, "mood", FieldType::String);
        full.nullable = false;
        full.default = Some("'calm'::mood".into());
        full.is_primary_key = true;
        full.association = Some(crate::Association {
            schema_id: "public.moods".into(),
            field: "name".into(),
        });
        full.comment = Some("how it feels".into());
        full.is_generated = true;
        full.generation_expression = Some("'calm'".into());
        full.is_auto_increment = true;
        full.enum_values = Some(vec!["calm".into(), "\"tense\"".into()]);
        object.fields.push(full);
        let stored = StoredForm::of(&object);
        let fields: Vec<Field> = serde_json::from_str(&stored.fields).unwrap();
        assert_eq!(fields, object.fields);
        assert!(!stored.fields.contains(":null"), "{}", stored.fields);
        assert_eq!(stored.properties, "{}");
        assert!(stored.refers_to.is_empty());
    }
}
