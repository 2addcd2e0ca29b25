//! Fields of a DynamoDB table: its key attributes with their declared types,
//! then every other attribute seen in a bounded sample of items, with the
//! types observed, whether some items lack it, and how many have it.

use schemata_core::{Field, FieldType};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// DynamoDB's attribute types, in the order `remote_type` lists them.
const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// One attribute as the sample saw it.
#[derive(Debug, Default)]
struct Seen {
    types: [bool; TYPES.len()],
    items: usize,
}

/// What a sample of items says about each attribute.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    attributes: BTreeMap<String, Seen>,
    items: usize,
}

impl Sample {
    /// Adds a page of a `Scan`'s `Items`.
    pub fn add(&mut self, items: &[Value]) {
        for item in items {
            let Some(item) = item.as_object() else {
                continue;
            };
            self.items += 1;
            for (name, value) in item {
                let seen = self.attributes.entry(name.clone()).or_default();
                seen.items += 1;
                if let Some(index) =
                    attribute_type(value).and_then(|t| TYPES.iter().position(|k| *k == t))
                {
                    seen.types[index] = true;
                }
            }
        }
    }

    pub fn items(&self) -> usize {
        self.items
    }

    /// The table's fields: `keys` (name, declared type) first, in key order,
    /// then the other attributes by name, with the secondary indexes' key
    /// attributes (`declared`) among them even when no sampled item had one.
    pub fn fields(&self, keys: &[(String, String)], declared: &[(String, String)]) -> Vec<Field> {
        let mut fields = Vec::new();
        for (name, declared) in keys {
            let mut field = Field::new(name, 0, declared, normalized(&[declared.as_str()]));
            field.nullable = false;
            field.is_primary_key = true;
            field.coverage = Some(1.0);
            fields.push(field);
        }
        for (name, seen) in &self.attributes {
            if keys.iter().any(|(key, _)| key == name) {
                continue;
            }
            let observed: Vec<&str> = TYPES
                .iter()
                .zip(seen.types)
                .filter_map(|(t, seen)| seen.then_some(*t))
                .collect();
            let mut field = Field::new(name, 0, observed.join("|"), normalized(&observed));
            field.nullable = seen.items < self.items || seen.types[4];
            field.coverage = Some(coverage(seen.items, self.items));
            fields.push(field);
        }
        for (name, kind) in declared {
            if fields.iter().any(|f| &f.name == name) {
                continue;
            }
            let mut field = Field::new(name, 0, kind, normalized(&[kind.as_str()]));
            field.coverage = Some(0.0);
            fields.push(field);
        }
        let first_attribute = keys.len().min(fields.len());
        fields[first_attribute..].sort_by(|a, b| a.name.cmp(&b.name));
        for (ordinal, field) in fields.iter_mut().enumerate() {
            field.ordinal = i32::try_from(ordinal + 1).unwrap_or(i32::MAX);
        }
        fields
    }
}

/// `{"S": "x"}` → `S`.
fn attribute_type(value: &Value) -> Option<&str> {
    value.as_object()?.keys().next().map(String::as_str)
}

/// The normalized type of an attribute seen with `observed` types (NULL aside):
/// one type maps directly; several are `json` (any JSON value).
fn normalized(observed: &[&str]) -> FieldType {
    let kinds: Vec<FieldType> = observed
        .iter()
        .filter(|t| **t != "NULL")
        .map(|t| match *t {
            "S" => FieldType::String,
            "N" => FieldType::Number,
            "B" => FieldType::Binary,
            "BOOL" => FieldType::Boolean,
            "M" => FieldType::Json,
            _ => FieldType::Array,
        })
        .collect();
    match kinds.as_slice() {
        [] => FieldType::Unknown,
        [only] => *only,
        [first, rest @ ..] if rest.iter().all(|k| k == first) => *first,
        _ => FieldType::Json,
    }
}

/// The share of sampled items that had the attribute, in tenths: finer, and
/// every item written between two samples would be a schema change.
fn coverage(had: usize, of: usize) -> f64 {
    if of == 0 {
        return 0.0;
    }
    (had as f64 / of as f64 * 10.0).round() / 10.0
}

/// A DynamoDB number as a JSON number when that is exact, else its digits as
/// a string (DynamoDB keeps 38 of them; a double does not).
fn number(text: &Value) -> Value {
    match text.as_str() {
        Some(digits) if crate::records::exact_as_number(digits) => {
            serde_json::from_str::<serde_json::Number>(digits)
                .map_or_else(|_| text.clone(), Value::Number)
        }
        _ => text.clone(),
    }
}

/// An item as plain JSON: `{"id": {"N": "1"}}` → `{"id": 1}`.
pub(crate) fn plain_item(item: &Map<String, Value>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
}

fn plain(value: &Value) -> Value {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    match kind.as_str() {
        "N" => number(inner),
        "NULL" => Value::Null,
        "M" => inner.as_object().map_or(Value::Null, plain_item),
        "L" => Value::Array(
            inner
                .as_array()
                .map(|l| l.iter().map(plain).collect())
                .unwrap_or_default(),
        ),
        "NS" => Value::Array(
            inner
                .as_array()
                .map(|l| l.iter().map(number).collect())
                .unwrap_or_default(),
        ),
        _ => inner.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mixed_and_sparse_attributes_are_described_by_what_the_sample_saw() {
        let mut sample = Sample::default();
        sample.add(&[
            json!({"pk": {"S": "a"}, "n": {"N": "1"}, "mixed": {"S": "x"}, "tags": {"SS": ["t"]}}),
            json!({"pk": {"S": "b"}, "n": {"N": "2"}, "mixed": {"N": "2"}}),
            json!({"pk": {"S": "c"}, "n": {"N": "3"}, "mixed": {"NULL": true}, "doc": {"M": {}}}),
            json!({"pk": {"S": "d"}, "n": {"N": "4"}}),
        ]);
        let fields = sample.fields(
            &[("pk".into(), "S".into())],
            &[("status".into(), "S".into())],
        );
        let by_name = |n: &str| fields.iter().find(|f| f.name == n).unwrap();
        assert_eq!(fields[0].name, "pk");
        assert!(fields[0].is_primary_key && !fields[0].nullable);
        let mixed = by_name("mixed");
        assert_eq!(mixed.remote_type, "S|N|NULL");
        assert_eq!(mixed.field_type, FieldType::Json);
        assert!(mixed.nullable);
        assert_eq!(mixed.coverage, Some(0.8));
        let n = by_name("n");
        assert_eq!(
            (n.field_type, n.nullable, n.coverage),
            (FieldType::Number, false, Some(1.0))
        );
        assert_eq!(by_name("tags").field_type, FieldType::Array);
        assert_eq!(by_name("doc").field_type, FieldType::Json);
        assert_eq!(by_name("doc").coverage, Some(0.3));
        let ordinals: Vec<i32> = fields.iter().map(|f| f.ordinal).collect();
        assert_eq!(ordinals, [1, 2, 3, 4, 5, 6]);
        let status = by_name("status");
        assert_eq!((status.nullable, status.coverage), (true, Some(0.0)));
    }

    #[test]
    fn items_read_as_plain_json() {
        let item = json!({"id": {"N": "7"}, "name": {"S": "x"}, "tags": {"L": [{"S": "a"}, {"BOOL": true}]},
            "m": {"M": {"k": {"NULL": true}}}, "ns": {"NS": ["1.5"]}});
        assert_eq!(
            plain_item(item.as_object().unwrap()),
            json!({"id": 7, "name": "x", "tags": ["a", true], "m": {"k": null}, "ns": [1.5]})
        );
        let big = json!({"n": {"N": "12345678901234567890123456789012345678"}});
        assert_eq!(
            plain_item(big.as_object().unwrap()),
            json!({"n": "12345678901234567890123456789012345678"})
        );
    }
}
