//! Live samples of an object's rows (`GET …/records`): read under the same
//! protections as a refresh, with identifiers always quoted, and values as
//! JSON (dates as strings, numerics as numbers, binary as base64, json as json).

use crate::SourceError;
use base64::{Engine, engine::general_purpose::STANDARD};
use schemata_core::{FieldType, SchemaObject};
use serde_json::{Map, Value};

/// The most rows a sample may have.
pub const MAX_LIMIT: u32 = 100;

/// The most a sample may weigh: huge values are a source's to keep.
pub const MAX_BYTES: usize = 4 << 20;

/// Accumulates rows against [`MAX_BYTES`].
#[derive(Debug, Default)]
pub struct Sample {
    rows: Vec<Value>,
    bytes: usize,
}

impl Sample {
    pub fn push(&mut self, row: Value, bytes: usize) -> Result<(), SourceError> {
        self.bytes += bytes;
        if self.bytes > MAX_BYTES {
            return Err(SourceError::TooLarge(format!(
                "the sample is larger than {} MiB; ask for fewer rows",
                MAX_BYTES >> 20
            )));
        }
        self.rows.push(row);
        Ok(())
    }

    pub fn into_rows(self) -> Vec<Value> {
        self.rows
    }
}

/// `"name"` with inner quotes doubled: PostgreSQL and SQLite identifiers.
pub fn double_quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `` `name` `` with inner backticks doubled: MySQL identifiers.
pub fn backticked(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Rewrites binary fields PostgreSQL's JSON spells as `\x…` hex into base64.
pub fn hex_binary_to_base64(object: &SchemaObject, row: &mut Map<String, Value>) {
    for field in object
        .fields
        .iter()
        .filter(|f| f.field_type == FieldType::Binary)
    {
        if let Some(Value::String(text)) = row.get(&field.name)
            && let Some(bytes) = text.strip_prefix("\\x").and_then(|h| hex::decode(h).ok())
        {
            row.insert(field.name.clone(), Value::String(STANDARD.encode(bytes)));
        }
    }
}

pub fn base64(bytes: &[u8]) -> Value {
    Value::String(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemata_core::{Field, ObjectKind};
    use serde_json::json;

    #[test]
    fn identifiers_are_quoted_whatever_they_contain() {
        assert_eq!(double_quoted(r#"we"ird.ta ble"#), r#""we""ird.ta ble""#);
        assert_eq!(backticked("back`tick"), "`back``tick`");
    }

    #[test]
    fn binary_values_become_base64_and_the_rest_is_left_alone() {
        let mut object = SchemaObject::new("public", "t", ObjectKind::Table);
        object.fields = vec![
            Field::new("data", 1, "bytea", FieldType::Binary),
            Field::new("note", 2, "text", FieldType::String),
        ];
        let mut row = json!({"data": "\\x00ff10", "note": "\\x00"})
            .as_object()
            .unwrap()
            .clone();
        hex_binary_to_base64(&object, &mut row);
        assert_eq!(row["data"], "AP8Q");
        assert_eq!(row["note"], "\\x00");
    }

    #[test]
    fn a_sample_stops_at_its_size() {
        let mut sample = Sample::default();
        assert!(sample.push(json!({}), MAX_BYTES).is_ok());
        assert!(matches!(
            sample.push(json!({}), 1),
            Err(SourceError::TooLarge(_))
        ));
    }
}
