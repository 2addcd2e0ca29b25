//! What a refresh changed: the change set recorded with every refresh run.

use crate::{SchemaId, SchemaObject, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ObjectChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    pub object: String,
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    /// Fields whose type, nullability, default, key or association changed.
    pub fields_changed: Vec<String>,
    /// True when only object-level properties (kind, comment, keys, indexes) changed.
    pub object_changed: bool,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares two snapshots. Objects only in `new` are added, only in `old` removed.
pub fn diff(old: &Snapshot, new: &Snapshot) -> ChangeSet {
    let old_by_id = by_id(old);
    let new_by_id = by_id(new);
    let mut change_set = ChangeSet::default();
    for (id, new_object) in &new_by_id {
        match old_by_id.get(id) {
            None => change_set.added.push(id.to_string()),
            Some(old_object) => {
                if let Some(change) = object_change(old_object, new_object) {
                    change_set.changed.push(change);
                }
            }
        }
    }
    change_set.removed = old_by_id
        .keys()
        .filter(|id| !new_by_id.contains_key(*id))
        .map(ToString::to_string)
        .collect();
    change_set
}

fn by_id(snapshot: &Snapshot) -> BTreeMap<SchemaId, &SchemaObject> {
    snapshot.objects.iter().map(|o| (o.id(), o)).collect()
}

fn object_change(old: &SchemaObject, new: &SchemaObject) -> Option<ObjectChange> {
    let old_fields: BTreeMap<_, _> = old.fields.iter().map(|f| (&f.name, f)).collect();
    let new_fields: BTreeMap<_, _> = new.fields.iter().map(|f| (&f.name, f)).collect();
    let mut change = ObjectChange {
        object: new.id().to_string(),
        fields_added: vec![],
        fields_removed: vec![],
        fields_changed: vec![],
        object_changed: old.kind != new.kind
            || old.comment != new.comment
            || old.primary_keys != new.primary_keys
            || old.indexes != new.indexes
            || old.partition_count != new.partition_count,
    };
    for (name, new_field) in &new_fields {
        match old_fields.get(name) {
            None => change.fields_added.push((*name).clone()),
            Some(old_field) if old_field != new_field => {
                change.fields_changed.push((*name).clone())
            }
            Some(_) => {}
        }
    }
    change.fields_removed = old_fields
        .keys()
        .filter(|name| !new_fields.contains_key(*name))
        .map(|name| (*name).clone())
        .collect();
    let any = change.object_changed
        || !change.fields_added.is_empty()
        || !change.fields_removed.is_empty()
        || !change.fields_changed.is_empty();
    any.then_some(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{field, table};

    #[test]
    fn diff_reports_added_removed_and_changed_objects_and_fields() {
        let old = Snapshot {
            objects: vec![
                table(
                    "public",
                    "users",
                    vec![field("id", 1, "integer"), field("email", 2, "text")],
                ),
                table("public", "gone", vec![field("id", 1, "integer")]),
            ],
        };
        let mut email = field("email", 2, "character varying(64)");
        email.nullable = false;
        let new = Snapshot {
            objects: vec![
                table(
                    "public",
                    "users",
                    vec![field("id", 1, "integer"), email, field("name", 3, "text")],
                ),
                table("sales", "orders", vec![field("id", 1, "integer")]),
            ],
        };
        let change_set = diff(&old, &new);
        assert_eq!(change_set.added, ["sales.orders"]);
        assert_eq!(change_set.removed, ["public.gone"]);
        assert_eq!(change_set.changed.len(), 1);
        let users = &change_set.changed[0];
        assert_eq!(users.object, "public.users");
        assert_eq!(users.fields_added, ["name"]);
        assert_eq!(users.fields_changed, ["email"]);
        assert!(users.fields_removed.is_empty());
        assert!(!users.object_changed);
    }

    #[test]
    fn identical_snapshots_have_an_empty_diff() {
        let snapshot = Snapshot {
            objects: vec![table("public", "t", vec![field("id", 1, "int")])],
        };
        assert!(diff(&snapshot, &snapshot.clone()).is_empty());
    }
}
