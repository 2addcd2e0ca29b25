//! What differs between the cache and a fresh full read, object by object and
//! field by field, in words a failing test can print.

use schemata_core::{SchemaId, SchemaObject};
use serde_json::Value;
use std::collections::BTreeMap;

/// Row estimates are statistics, not structure (and not in the content hash):
/// left out of the comparison.
fn comparable(objects: &[SchemaObject]) -> BTreeMap<SchemaId, Value> {
    objects
        .iter()
        .map(|object| {
            let mut object = object.clone();
            object.row_estimate = None;
            (
                object.id(),
                serde_json::to_value(&object).expect("an object serializes"),
            )
        })
        .collect()
}

/// Every difference, one per line; empty when the two are equal.
pub fn differences(cached: &[SchemaObject], fresh: &[SchemaObject]) -> Vec<String> {
    let cached = comparable(cached);
    let fresh = comparable(fresh);
    let mut lines = Vec::new();
    for (id, object) in &cached {
        match fresh.get(id) {
            None => lines.push(format!(
                "- {id}: cached, but a full read has no such object"
            )),
            Some(other) if other != object => {
                values(&id.to_string(), object, other, &mut lines);
            }
            Some(_) => {}
        }
    }
    for id in fresh.keys().filter(|id| !cached.contains_key(*id)) {
        lines.push(format!("+ {id}: read in full, but not cached"));
    }
    lines
}

fn values(path: &str, cached: &Value, fresh: &Value, lines: &mut Vec<String>) {
    match (cached, fresh) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                if x != y {
                    values(&format!("{path}.{key}"), x, y, lines);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    let name = x["name"].as_str().map_or(i.to_string(), str::to_owned);
                    values(&format!("{path}[{name}]"), x, y, lines);
                }
            }
        }
        _ => lines.push(format!("~ {path}: cached {cached}, full read {fresh}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemata_core::{Field, FieldType, ObjectKind};

    #[test]
    fn differences_name_the_object_and_the_field() {
        let mut a = SchemaObject::new("public", "t", ObjectKind::Table);
        a.fields
            .push(Field::new("id", 1, "integer", FieldType::Integer));
        let mut b = a.clone();
        b.fields[0].nullable = false;
        b.row_estimate = Some(5);
        let gone = SchemaObject::new("public", "gone", ObjectKind::View);
        let lines = differences(&[a.clone(), gone], &[b]);
        assert_eq!(
            lines,
            [
                "- public.gone: cached, but a full read has no such object",
                "~ public.t.fields[id].nullable: cached true, full read false"
            ]
        );
        assert!(differences(&[a.clone()], &[a]).is_empty());
    }
}
