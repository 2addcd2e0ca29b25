//! Live samples of an object's rows (`GET …/records`): read under the same
//! protections as a refresh, with identifiers always quoted, and values as
//! JSON (dates as strings, numerics as numbers, binary as base64, json as json).
//! A numeric a JSON number cannot carry exactly (more digits than a double
//! holds) comes as its exact decimal string instead of a rounded number.

use crate::SourceError;
use base64::{Engine, engine::general_purpose::STANDARD};
use schemata_core::{FieldType, SchemaObject};
use serde_json::{Map, Value, value::RawValue};

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
    /// The error for a row the source measured past [`MAX_BYTES`] and did not send.
    pub fn row_too_large(bytes: i64) -> SourceError {
        SourceError::TooLarge(format!(
            "a row of the sample is {} MiB, more than the {} MiB a sample may hold",
            bytes >> 20,
            MAX_BYTES >> 20
        ))
    }

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

/// Parses a row the source rendered as a JSON object, keeping every top-level
/// number exact: one a double cannot hold stays a string.
pub fn parse_row(text: &str) -> Result<Map<String, Value>, SourceError> {
    let raw: Vec<(String, Box<RawValue>)> = serde_json::from_str::<RawObject>(text)
        .map_err(|e| SourceError::Query(format!("the source sent a row that is not JSON: {e}")))?
        .0;
    raw.into_iter()
        .map(|(name, value)| {
            let text = value.get();
            let value = if is_number(text) && !exact_as_number(text) {
                Value::String(text.to_owned())
            } else {
                serde_json::from_str(text).map_err(|e| SourceError::Query(e.to_string()))?
            };
            Ok((name, value))
        })
        .collect()
}

/// A JSON object's members in order, each value unparsed.
struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for RawObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

fn is_number(text: &str) -> bool {
    text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// Whether `text`, a JSON number, means exactly what serde_json makes of it:
/// an integer that fits 64 bits, or a decimal whose double prints back to the
/// same digits. Exponents are floating point by nature.
pub(crate) fn exact_as_number(text: &str) -> bool {
    if text.contains(['e', 'E']) {
        return true;
    }
    if !text.contains('.') {
        return text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok();
    }
    text.parse::<f64>()
        .is_ok_and(|double| trimmed(&double.to_string()) == trimmed(text))
}

/// A decimal without trailing fractional zeros (and without a bare point).
fn trimmed(decimal: &str) -> &str {
    if decimal.contains('.') {
        decimal.trim_end_matches('0').trim_end_matches('.')
    } else {
        decimal
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
    fn numbers_a_double_cannot_hold_stay_exact_as_strings() {
        let row = parse_row(
            r#"{"big": 12345678901234567890.123456789, "huge": 99999999999999999999999,
                "money": 12.50, "tiny": 0.1, "count": 42, "neg": -7, "u": 18446744073709551615,
                "float": 1.5e300, "text": "12.5", "doc": {"n": 1}, "none": null}"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(row),
            json!({"big": "12345678901234567890.123456789", "huge": "99999999999999999999999",
                   "money": 12.5, "tiny": 0.1, "count": 42, "neg": -7, "u": 18446744073709551615u64,
                   "float": 1.5e300, "text": "12.5", "doc": {"n": 1}, "none": null})
        );
        assert!(parse_row("[1, 2]").is_err());
    }

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
