//! What a refresh changed: the change set recorded with every run, and whether
//! a client reading the old schema could fail on the new one (`breaking`).

use crate::{Field, FieldType, SchemaObject};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub objects_added: Vec<String>,
    pub objects_removed: Vec<String>,
    pub objects_changed: Vec<ObjectChange>,
    pub breaking: bool,
    pub breaking_reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    pub schema_id: String,
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    pub fields_changed: Vec<FieldChange>,
    /// Object-level properties that changed: kind, comment, primary key, indexes…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<PropertyChange>,
}

/// A field's attributes that changed, before and after (only those that differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyChange {
    pub property: String,
    pub before: Value,
    pub after: Value,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.objects_added.is_empty()
            && self.objects_removed.is_empty()
            && self.objects_changed.is_empty()
    }

    pub fn added(&mut self, id: String) {
        self.objects_added.push(id);
    }

    pub fn removed(&mut self, id: String) {
        self.breaking_reasons
            .push(format!("object {id} was removed"));
        self.objects_removed.push(id);
    }

    /// Records how `old` became `new`, if it changed at all.
    pub fn compare(&mut self, old: &SchemaObject, new: &SchemaObject) {
        if let Some(change) = object_change(old, new, &mut self.breaking_reasons) {
            self.objects_changed.push(change);
        }
    }

    /// Sorts everything and settles `breaking`; call once all objects are in.
    pub fn finish(mut self) -> Self {
        self.objects_added.sort();
        self.objects_removed.sort();
        self.objects_changed
            .sort_by(|a, b| a.schema_id.cmp(&b.schema_id));
        self.breaking_reasons.sort();
        self.breaking = !self.breaking_reasons.is_empty();
        self
    }
}

fn object_change(
    old: &SchemaObject,
    new: &SchemaObject,
    breaking: &mut Vec<String>,
) -> Option<ObjectChange> {
    let id = new.id().to_string();
    let mut change = ObjectChange {
        schema_id: id.clone(),
        fields_added: vec![],
        fields_removed: vec![],
        fields_changed: vec![],
        changes: vec![],
    };
    let old_fields: BTreeMap<&str, &Field> =
        old.fields.iter().map(|f| (f.name.as_str(), f)).collect();
    let new_fields: BTreeMap<&str, &Field> =
        new.fields.iter().map(|f| (f.name.as_str(), f)).collect();
    for (name, field) in &new_fields {
        match old_fields.get(name) {
            None => {
                if !field.nullable
                    && field.default.is_none()
                    && !field.is_generated
                    && !inferred(field)
                {
                    breaking.push(format!(
                        "{id}.{name} was added as NOT NULL without a default"
                    ));
                }
                change.fields_added.push((*name).to_owned());
            }
            Some(before) if before != field => {
                change
                    .fields_changed
                    .push(field_change(&id, before, field, breaking));
            }
            Some(_) => {}
        }
    }
    for (name, field) in old_fields
        .iter()
        .filter(|(n, _)| !new_fields.contains_key(*n))
    {
        if !inferred(field) {
            breaking.push(format!("field {id}.{name} was removed"));
        }
        change.fields_removed.push((*name).to_owned());
    }
    let mut property = |name: &str, before: Value, after: Value| {
        if before != after {
            change.changes.push(PropertyChange {
                property: name.to_owned(),
                before,
                after,
            });
        }
    };
    property("kind", json!(old.kind), json!(new.kind));
    property("comment", json!(old.comment), json!(new.comment));
    property(
        "primary_keys",
        json!(old.primary_keys),
        json!(new.primary_keys),
    );
    property("indexes", json!(old.indexes), json!(new.indexes));
    property(
        "foreign_keys",
        json!(old.foreign_keys),
        json!(new.foreign_keys),
    );
    property(
        "unique_constraints",
        json!(old.unique_constraints),
        json!(new.unique_constraints),
    );
    property(
        "partition_count",
        json!(old.partition_count),
        json!(new.partition_count),
    );
    property(
        "properties",
        json!(old.structural_properties()),
        json!(new.structural_properties()),
    );
    if old.primary_keys != new.primary_keys {
        breaking.push(format!(
            "the primary key of {id} changed from {:?} to {:?}",
            old.primary_keys, new.primary_keys
        ));
    }
    if old.kind != new.kind {
        breaking.push(format!(
            "{id} changed from {} to {}",
            old.kind.as_str(),
            new.kind.as_str()
        ));
    }
    let changed = !change.fields_added.is_empty()
        || !change.fields_removed.is_empty()
        || !change.fields_changed.is_empty()
        || !change.changes.is_empty();
    changed.then_some(change)
}

/// The attributes of a field that changed; breaking ones are noted.
fn field_change(
    id: &str,
    before: &Field,
    after: &Field,
    breaking: &mut Vec<String>,
) -> FieldChange {
    let old = serde_json::to_value(before).unwrap_or_default();
    let new = serde_json::to_value(after).unwrap_or_default();
    let (mut was, mut is) = (Map::new(), Map::new());
    if let (Value::Object(old), Value::Object(new)) = (&old, &new) {
        for key in old.keys().chain(new.keys()) {
            let (a, b) = (old.get(key), new.get(key));
            if a != b && !was.contains_key(key) {
                was.insert(key.clone(), a.cloned().unwrap_or(Value::Null));
                is.insert(key.clone(), b.cloned().unwrap_or(Value::Null));
            }
        }
    }
    let name = &after.name;
    if inferred(before) || inferred(after) {
        // What a sample saw (DynamoDB): an attribute that went missing from
        // it, or a type that did not turn up this time, is no promise broken.
        return FieldChange {
            field: name.clone(),
            before: Value::Object(was),
            after: Value::Object(is),
        };
    }
    if before.nullable && !after.nullable {
        breaking.push(format!("{id}.{name} was made NOT NULL"));
    }
    if before.field_type != after.field_type {
        breaking.push(format!(
            "{id}.{name} changed type category from {} to {}",
            before.field_type.as_str(),
            after.field_type.as_str()
        ));
    } else if narrowed(after.field_type, &before.remote_type, &after.remote_type) {
        breaking.push(format!(
            "{id}.{name} was narrowed from {} to {}",
            before.remote_type, after.remote_type
        ));
    }
    FieldChange {
        field: name.clone(),
        before: Value::Object(was),
        after: Value::Object(is),
    }
}

/// A field inferred from sampled items rather than declared by the source.
fn inferred(field: &Field) -> bool {
    field.coverage.is_some() && !field.is_primary_key
}

/// Whether a type of the same category got smaller: fewer integer bytes, a
/// shorter length, less precision or scale.
pub fn narrowed(category: FieldType, before: &str, after: &str) -> bool {
    let (before, after) = (before.to_ascii_lowercase(), after.to_ascii_lowercase());
    if category == FieldType::Integer
        && let (Some(a), Some(b)) = (integer_bytes(&before), integer_bytes(&after))
        && b < a
    {
        return true;
    }
    match (size_of(&before), size_of(&after)) {
        (Some(a), Some(b)) => a.iter().zip(&b).any(|(x, y)| y < x),
        // A bounded type where there was none (text → varchar(10)).
        (None, Some(_)) => matches!(
            category,
            FieldType::String | FieldType::Number | FieldType::Binary
        ),
        _ => false,
    }
}

fn integer_bytes(remote: &str) -> Option<u8> {
    let base = remote.split(['(', ' ']).next().unwrap_or(remote);
    Some(match base {
        "tinyint" | "int1" => 1,
        "smallint" | "int2" | "smallserial" => 2,
        "mediumint" | "int3" => 3,
        "integer" | "int" | "int4" | "serial" => 4,
        "bigint" | "int8" | "bigserial" => 8,
        _ => return None,
    })
    .map(|bytes| {
        if remote.contains("unsigned") {
            bytes * 2
        } else {
            bytes
        }
    })
}

/// The numbers in a type's parentheses: `varchar(64)` → [64], `numeric(12,2)` → [12, 2].
fn size_of(remote: &str) -> Option<Vec<u64>> {
    let inside = remote.split_once('(')?.1.split_once(')')?.0;
    let sizes: Option<Vec<u64>> = inside.split(',').map(|p| p.trim().parse().ok()).collect();
    sizes.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{field, table};

    fn changes(old: &SchemaObject, new: &SchemaObject) -> ChangeSet {
        let mut set = ChangeSet::default();
        set.compare(old, new);
        set.finish()
    }

    #[test]
    fn field_changes_name_only_the_attributes_that_changed() {
        let old = table(
            "public",
            "users",
            vec![field("id", 1, "integer"), field("email", 2, "text")],
        );
        let mut email = field("email", 2, "character varying(64)");
        email.nullable = false;
        let new = table(
            "public",
            "users",
            vec![field("id", 1, "integer"), email, field("name", 3, "text")],
        );
        let set = changes(&old, &new);
        let users = &set.objects_changed[0];
        assert_eq!(users.schema_id, "public.users");
        assert_eq!(users.fields_added, ["name"]);
        assert_eq!(users.fields_changed[0].field, "email");
        assert_eq!(
            users.fields_changed[0].before,
            json!({"remote_type": "text", "nullable": true})
        );
        assert_eq!(
            users.fields_changed[0].after,
            json!({"remote_type": "character varying(64)", "nullable": false})
        );
        assert!(
            set.breaking,
            "made NOT NULL and bounded: {:?}",
            set.breaking_reasons
        );
    }

    #[test]
    fn adding_objects_or_nullable_fields_is_not_breaking_but_removing_is() {
        let old = table("public", "t", vec![field("id", 1, "int")]);
        let new = table(
            "public",
            "t",
            vec![field("id", 1, "int"), field("note", 2, "text")],
        );
        let mut set = ChangeSet::default();
        set.compare(&old, &new);
        set.added("public.new".into());
        let set = set.finish();
        assert!(!set.breaking, "{:?}", set.breaking_reasons);
        let gone = changes(&new, &old);
        assert!(gone.breaking);
        assert_eq!(gone.breaking_reasons, ["field public.t.note was removed"]);
        let mut removed = ChangeSet::default();
        removed.removed("public.t".into());
        assert!(removed.finish().breaking);
    }

    #[test]
    fn what_a_sample_saw_is_reported_but_never_breaking() {
        let sampled = |name: &str, remote: &str, nullable: bool| {
            let mut f = field(name, 2, remote);
            f.coverage = Some(if nullable { 0.5 } else { 1.0 });
            f.nullable = nullable;
            f
        };
        let old = table(
            "default",
            "t",
            vec![field("id", 1, "int"), sampled("a", "S|N", true)],
        );
        let new = table(
            "default",
            "t",
            vec![
                field("id", 1, "int"),
                sampled("a", "S", false),
                sampled("b", "N", false),
            ],
        );
        let seen = changes(&old, &new);
        assert!(!seen.breaking, "{:?}", seen.breaking_reasons);
        assert_eq!(seen.objects_changed[0].fields_added, ["b"]);
        assert_eq!(seen.objects_changed[0].fields_changed[0].field, "a");
        let gone = changes(&new, &old);
        assert!(!gone.breaking, "{:?}", gone.breaking_reasons);
        assert_eq!(gone.objects_changed[0].fields_removed, ["b"]);
    }

    #[test]
    fn narrowing_and_category_changes_are_breaking_widening_is_not() {
        assert!(narrowed(
            FieldType::String,
            "character varying(64)",
            "character varying(32)"
        ));
        assert!(!narrowed(
            FieldType::String,
            "character varying(32)",
            "character varying(64)"
        ));
        assert!(narrowed(FieldType::String, "text", "varchar(10)"));
        assert!(!narrowed(FieldType::String, "varchar(10)", "text"));
        assert!(narrowed(
            FieldType::Number,
            "numeric(12,2)",
            "numeric(12,1)"
        ));
        assert!(narrowed(FieldType::Integer, "bigint", "integer"));
        assert!(!narrowed(FieldType::Integer, "int", "bigint"));
        assert!(narrowed(FieldType::Integer, "int unsigned", "smallint"));
        let old = table("public", "t", vec![field("id", 1, "integer")]);
        let mut new = old.clone();
        new.fields[0].field_type = FieldType::Integer;
        assert!(
            changes(&old, &new).breaking,
            "string → integer changes category"
        );
        let mut keyed = old.clone();
        keyed.primary_keys = vec!["id".into()];
        let set = changes(&old, &keyed);
        assert!(set.breaking && set.breaking_reasons[0].contains("primary key"));
    }

    #[test]
    fn identical_objects_have_no_change() {
        let object = table("public", "t", vec![field("id", 1, "int")]);
        assert!(changes(&object, &object.clone()).is_empty());
    }
}
