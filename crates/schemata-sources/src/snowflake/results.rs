//! A query's answer as rows of JSON values in the cache's types, from either
//! of Snowflake's result formats: a JSON `rowset` (every value a string in
//! Snowflake's wire spelling) or an Arrow IPC stream (`rowsetBase64` and
//! result chunks), decoded with arrow-ipc. Numbers stay exact (a decimal a
//! double cannot hold stays a string), date-times are ISO 8601, binary is
//! base64, semi-structured values are JSON.

use crate::{SourceError, records::exact_as_number};
use arrow_array::{Array, ArrayRef, RecordBatch, cast::AsArray, types::*};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{ArrowError, DataType};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta};
use serde_json::{Value, json};

/// Memory one statement's rows may take: a catalog of the column cap fits.
const MAX_RESULT_BYTES: usize = 512 << 20;

/// What one statement's answer may still hold: rows, and bytes counted as
/// each cell's in-memory size plus the wire bytes of its text. Checked
/// before a batch is decoded, so an answer that claims millions of rows in a
/// few bytes (Arrow null columns need no buffers) is refused, not built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    rows: usize,
    bytes: usize,
}

impl Allowance {
    pub fn new(max_rows: usize) -> Self {
        Self {
            rows: max_rows,
            bytes: MAX_RESULT_BYTES,
        }
    }

    fn too_large(&self) -> SourceError {
        SourceError::TooLarge(format!(
            "a Snowflake answer holds more rows or data than one read may ({} MB); narrow schema_filter or table_allowlist",
            MAX_RESULT_BYTES >> 20
        ))
    }

    pub fn charge_bytes(&mut self, bytes: usize) -> Result<(), SourceError> {
        self.bytes = self
            .bytes
            .checked_sub(bytes)
            .ok_or_else(|| self.too_large())?;
        Ok(())
    }

    /// Takes room for `rows` rows of `columns` cells.
    fn take_rows(&mut self, rows: usize, columns: usize) -> Result<(), SourceError> {
        let cells = rows.saturating_mul(columns.max(1) + 1);
        let bytes = cells.saturating_mul(std::mem::size_of::<Value>());
        self.rows = self
            .rows
            .checked_sub(rows)
            .ok_or_else(|| self.too_large())?;
        self.charge_bytes(bytes)
    }
}

/// A result column: its name and what Snowflake says of its type.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    /// Snowflake's result type in lower case: `fixed`, `text`, `timestamp_tz`…
    pub kind: String,
    pub scale: u32,
}

impl Column {
    /// One entry of the answer's `rowtype`.
    pub fn from_rowtype(entry: &Value) -> Self {
        Self {
            name: entry["name"].as_str().unwrap_or_default().to_owned(),
            kind: entry["type"]
                .as_str()
                .unwrap_or("text")
                .to_ascii_lowercase(),
            scale: entry["scale"]
                .as_u64()
                .map_or(0, |s| u32::try_from(s.min(38)).unwrap_or(0)),
        }
    }
}

/// The rows of one answer, every chunk included.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// What the answer weighed on the wire, for the refresh's byte cap.
    pub bytes: usize,
}

impl ResultSet {
    /// The position of column `name`, in any case (emulators differ).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The rows with their values in the order of `columns` (by name):
    /// answers of one statement per schema, gathered into one set.
    pub fn remap(&self, columns: &[Column]) -> Vec<Vec<Value>> {
        let positions: Vec<Option<usize>> =
            columns.iter().map(|c| self.position(&c.name)).collect();
        self.rows
            .iter()
            .map(|row| {
                positions
                    .iter()
                    .map(|p| p.and_then(|i| row.get(i)).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect()
    }

    /// Each row as a map from upper-cased column name to value, for readers
    /// that pick columns by name.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.rows.iter().map(move |row| Record { set: self, row })
    }
}

/// One row, read by column name.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    set: &'a ResultSet,
    row: &'a [Value],
}

impl<'a> Record<'a> {
    pub fn row(&self) -> &'a [Value] {
        self.row
    }

    pub fn value(&self, name: &str) -> &Value {
        self.set
            .position(name)
            .and_then(|i| self.row.get(i))
            .unwrap_or(&Value::Null)
    }

    /// Text, or a number or boolean spelled as text; `None` for null or absent.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.value(name) {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.value(name) {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// `YES`/`NO`, `Y`/`N`, `true`/`false`, booleans.
    pub fn flag(&self, name: &str) -> bool {
        match self.value(name) {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(s.to_ascii_uppercase().as_str(), "YES" | "Y" | "TRUE"),
            _ => false,
        }
    }
}

/// Decodes one Arrow IPC stream (an inline rowset or a chunk) into rows.
pub(crate) fn arrow_rows(
    bytes: &[u8],
    columns: &[Column],
    allowance: &mut Allowance,
) -> Result<Vec<Vec<Value>>, SourceError> {
    if bytes.is_empty() {
        return Ok(vec![]);
    }
    let bad = |e: ArrowError| {
        SourceError::Query(format!(
            "Snowflake sent a result that is not Arrow IPC: {e}"
        ))
    };
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(bad)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.map_err(bad)?;
        if batch.num_columns() != columns.len() {
            return Err(SourceError::Query(format!(
                "Snowflake sent {} columns for a result of {}",
                batch.num_columns(),
                columns.len()
            )));
        }
        allowance.take_rows(batch.num_rows(), columns.len())?;
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(columns)
                    .map(|(array, column)| arrow_value(array, r, column))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// The integer an Arrow integer array holds at `row`, whatever its width.
fn integer_at(array: &ArrayRef, row: usize) -> Option<i128> {
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Decimal128(_, _) => array.as_primitive::<Decimal128Type>().value(row),
        _ => return None,
    })
}

fn arrow_value(array: &ArrayRef, row: usize, column: &Column) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let kind = column.kind.as_str();
    match (kind, array.data_type()) {
        ("fixed", DataType::Decimal128(_, scale)) => {
            let scale = u32::try_from(*scale).unwrap_or(0);
            exact_number(&decimal(
                array.as_primitive::<Decimal128Type>().value(row),
                scale,
            ))
        }
        ("fixed", _) => match integer_at(array, row) {
            Some(n) => exact_number(&decimal(n, column.scale)),
            None => other_value(array, row),
        },
        ("real", DataType::Float64) => float(array.as_primitive::<Float64Type>().value(row)),
        ("real", DataType::Float32) => float(array.as_primitive::<Float32Type>().value(row).into()),
        ("boolean", DataType::Boolean) => Value::Bool(array.as_boolean().value(row)),
        ("date", DataType::Date32) => date(array.as_primitive::<Date32Type>().value(row).into()),
        ("date", _) => integer_at(array, row).map_or(Value::Null, |d| date(d as i64)),
        ("time", _) => match integer_at(array, row) {
            Some(n) => time_of_day(n, column.scale),
            None => other_value(array, row),
        },
        ("timestamp_ntz" | "timestamp_ltz" | "timestamp_tz", DataType::Struct(_)) => {
            let parts = array.as_struct();
            let field = |name: &str| parts.column_by_name(name).and_then(|a| integer_at(a, row));
            let offset = field("timezone")
                .and_then(|tz| i64::try_from(tz).ok())
                .map(|tz| tz.saturating_sub(1440));
            match (field("epoch"), field("fraction")) {
                (Some(seconds), Some(nanos)) => {
                    timestamp(kind, seconds as i64, nanos as i64, offset, 9)
                }
                (Some(scaled), None) => {
                    let (seconds, nanos) = split_scaled(scaled, column.scale);
                    timestamp(kind, seconds, nanos, offset, column.scale)
                }
                _ => Value::Null,
            }
        }
        ("timestamp_ntz" | "timestamp_ltz" | "timestamp_tz", _) => match integer_at(array, row) {
            Some(scaled) => {
                let (seconds, nanos) = split_scaled(scaled, column.scale);
                timestamp(kind, seconds, nanos, None, column.scale)
            }
            None => other_value(array, row),
        },
        ("variant" | "object" | "array", DataType::Utf8) => {
            semi_structured(array.as_string::<i32>().value(row))
        }
        ("binary", DataType::Binary) => {
            Value::String(STANDARD.encode(array.as_binary::<i32>().value(row)))
        }
        _ => other_value(array, row),
    }
}

/// What a column of a type this reader has no rule for holds: its text or
/// number, never a failure.
fn other_value(array: &ArrayRef, row: usize) -> Value {
    match array.data_type() {
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_owned()),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Binary => Value::String(STANDARD.encode(array.as_binary::<i32>().value(row))),
        _ => match integer_at(array, row) {
            Some(n) => exact_number(&n.to_string()),
            None => Value::Null,
        },
    }
}

/// Decodes a JSON `rowset` (or a JSON chunk, wrapped in brackets): Snowflake
/// spells every value as a string.
pub(crate) fn json_rows(
    rowset: &Value,
    columns: &[Column],
    allowance: &mut Allowance,
) -> Result<Vec<Vec<Value>>, SourceError> {
    let rows = rowset
        .as_array()
        .ok_or_else(|| SourceError::Query("Snowflake sent a rowset that is not a list".into()))?;
    allowance.take_rows(rows.len(), columns.len())?;
    rows.iter()
        .map(|row| {
            let cells = row.as_array().ok_or_else(|| {
                SourceError::Query("Snowflake sent a row that is not a list".into())
            })?;
            Ok(cells
                .iter()
                .zip(columns)
                .map(|(cell, column)| match cell {
                    Value::String(text) => json_value(text, column),
                    other => other.clone(),
                })
                .collect())
        })
        .collect()
}

fn json_value(text: &str, column: &Column) -> Value {
    let kind = column.kind.as_str();
    match kind {
        "fixed" => exact_number(text),
        "real" => text
            .parse::<f64>()
            .map_or_else(|_| Value::String(text.into()), float),
        "boolean" => Value::Bool(matches!(text, "1" | "true" | "TRUE" | "True")),
        "date" => text.parse::<i64>().map_or(Value::String(text.into()), date),
        "time" => match seconds_and_nanos(text) {
            Some((seconds, nanos)) => {
                time_of_day(i128::from(seconds) * 1_000_000_000 + i128::from(nanos), 9)
            }
            None => Value::String(text.into()),
        },
        "timestamp_ntz" | "timestamp_ltz" | "timestamp_tz" => {
            let (instant, zone) = match text.split_once(' ') {
                Some((instant, zone)) => (instant, zone.parse::<i64>().ok()),
                None => (text, None),
            };
            match seconds_and_nanos(instant) {
                Some((seconds, nanos)) => timestamp(
                    kind,
                    seconds,
                    nanos,
                    zone.map(|z| z.saturating_sub(1440)),
                    column.scale.max(fraction_digits(instant)),
                ),
                None => Value::String(text.into()),
            }
        }
        "variant" | "object" | "array" => semi_structured(text),
        "binary" => hex::decode(text).map_or(Value::String(text.into()), |bytes| {
            Value::String(STANDARD.encode(bytes))
        }),
        _ => Value::String(text.into()),
    }
}

/// `123.456` as (123, 456000000), `-1.5` as (-2, 500000000): whole
/// seconds rounded down and a positive fraction, as the instant means.
fn seconds_and_nanos(text: &str) -> Option<(i64, i64)> {
    let negative = text.starts_with('-');
    let (whole, fraction) = text
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((text.trim_start_matches('-'), ""));
    let whole: i128 = whole.parse().ok()?;
    let digits = format!("{fraction:0<9}");
    let fraction: i128 = digits.get(..9)?.parse().ok()?;
    let mut nanos = whole.checked_mul(1_000_000_000)?.checked_add(fraction)?;
    if negative {
        nanos = -nanos;
    }
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    Some((
        seconds,
        i64::try_from(nanos.rem_euclid(1_000_000_000)).ok()?,
    ))
}

fn fraction_digits(text: &str) -> u32 {
    text.split_once('.')
        .map_or(0, |(_, f)| u32::try_from(f.len().min(9)).unwrap_or(9))
}

/// An integer scaled by 10^-scale, as (seconds, nanoseconds).
fn split_scaled(scaled: i128, scale: u32) -> (i64, i64) {
    let unit = 10i128.pow(scale.min(9));
    let seconds = scaled.div_euclid(unit);
    let nanos = scaled.rem_euclid(unit) * 10i128.pow(9 - scale.min(9));
    (seconds as i64, nanos as i64)
}

/// `n × 10^-scale` spelled exactly.
fn decimal(n: i128, scale: u32) -> String {
    if scale == 0 {
        return n.to_string();
    }
    let digits = n.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{whole}.{fraction}")
}

/// A JSON number when it means exactly the decimal, else the decimal as text.
fn exact_number(text: &str) -> Value {
    if exact_as_number(text)
        && let Ok(number) = serde_json::from_str::<serde_json::Number>(text)
    {
        return Value::Number(number);
    }
    Value::String(text.into())
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

fn date(days: i64) -> Value {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::try_days(days)?))
        .map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string()))
}

/// A time of day from an integer scaled by 10^-scale.
fn time_of_day(scaled: i128, scale: u32) -> Value {
    let (seconds, nanos) = split_scaled(scaled, scale);
    NaiveTime::from_num_seconds_from_midnight_opt(
        u32::try_from(seconds).unwrap_or(u32::MAX),
        u32::try_from(nanos).unwrap_or(0),
    )
    .map_or(Value::Null, |t| {
        json!(format_fraction(
            &t.format("%H:%M:%S").to_string(),
            nanos,
            scale
        ))
    })
}

/// An instant: NTZ as a wall-clock time without a zone, LTZ in UTC (`Z`),
/// TZ with its own offset.
fn timestamp(
    kind: &str,
    seconds: i64,
    nanos: i64,
    offset_minutes: Option<i64>,
    scale: u32,
) -> Value {
    let Some(utc) = DateTime::from_timestamp(
        seconds,
        u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    ) else {
        return Value::Null;
    };
    let fraction = |base: String| format_fraction(&base, nanos.rem_euclid(1_000_000_000), scale);
    let text = match kind {
        "timestamp_ntz" => fraction(utc.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()),
        "timestamp_tz" => {
            let offset = offset_minutes
                .and_then(|m| FixedOffset::east_opt(i32::try_from(m.checked_mul(60)?).ok()?))
                .unwrap_or(FixedOffset::east_opt(0).expect("zero offset"));
            let local = utc.with_timezone(&offset);
            let zone = if offset.local_minus_utc() == 0 {
                "Z".to_owned()
            } else {
                local.format("%:z").to_string()
            };
            format!(
                "{}{zone}",
                fraction(local.format("%Y-%m-%dT%H:%M:%S").to_string())
            )
        }
        _ => format!("{}Z", fraction(utc.format("%Y-%m-%dT%H:%M:%S").to_string())),
    };
    Value::String(text)
}

/// `base` with the fraction of a second to `scale` digits (none for 0).
fn format_fraction(base: &str, nanos: i64, scale: u32) -> String {
    let scale = scale.min(9) as usize;
    if scale == 0 {
        return base.to_owned();
    }
    let digits = format!("{nanos:09}");
    format!("{base}.{}", &digits[..scale])
}

fn semi_structured(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: &str, scale: u32) -> Column {
        Column {
            name: "C".into(),
            kind: kind.into(),
            scale,
        }
    }

    #[test]
    fn json_rowsets_decode_to_the_cache_types() {
        let cases = [
            ("fixed", 0, "42", json!(42)),
            ("fixed", 2, "12.34", json!(12.34)),
            (
                "fixed",
                0,
                "123456789012345678901234567890",
                json!("123456789012345678901234567890"),
            ),
            ("real", 0, "1.5", json!(1.5)),
            ("boolean", 0, "1", json!(true)),
            ("boolean", 0, "0", json!(false)),
            ("date", 0, "19724", json!("2024-01-02")),
            ("time", 9, "36672.123000000", json!("10:11:12.123000000")),
            (
                "timestamp_ntz",
                9,
                "1704164645.123456789",
                json!("2024-01-02T03:04:05.123456789"),
            ),
            (
                "timestamp_ltz",
                3,
                "1704164645.123",
                json!("2024-01-02T03:04:05.123Z"),
            ),
            (
                "timestamp_tz",
                0,
                "1704164645 1560",
                json!("2024-01-02T05:04:05+02:00"),
            ),
            (
                "timestamp_tz",
                3,
                "1704164645.500 1440",
                json!("2024-01-02T03:04:05.500Z"),
            ),
            ("variant", 0, "{\"a\": [1, 2]}", json!({"a": [1, 2]})),
            ("array", 0, "[1,\"x\"]", json!([1, "x"])),
            ("binary", 0, "DEADBEEF", json!("3q2+7w==")),
            ("text", 0, "hello", json!("hello")),
            (
                "geography",
                0,
                "{\"type\":\"Point\"}",
                json!("{\"type\":\"Point\"}"),
            ),
        ];
        for (kind, scale, text, expected) in cases {
            let rows = json_rows(
                &json!([[text]]),
                &[column(kind, scale)],
                &mut Allowance::new(10),
            )
            .unwrap();
            assert_eq!(rows[0][0], expected, "{kind} {text}");
        }
        let rows = json_rows(
            &json!([[null]]),
            &[column("fixed", 0)],
            &mut Allowance::new(10),
        )
        .unwrap();
        assert_eq!(rows[0][0], Value::Null);
    }

    #[test]
    fn instants_before_1970_keep_their_fraction() {
        let rows = json_rows(
            &json!([["-1.500000000"], ["-0.5"]]),
            &[column("timestamp_ntz", 9)],
            &mut Allowance::new(10),
        )
        .unwrap();
        assert_eq!(rows[0][0], json!("1969-12-31T23:59:58.500000000"));
        assert_eq!(rows[1][0], json!("1969-12-31T23:59:59.500000000"));
        assert_eq!(seconds_and_nanos("12.25"), Some((12, 250_000_000)));
    }

    /// Arrow null columns need no buffers: a few hundred bytes can claim
    /// millions of rows. The claim is refused before a row is built.
    #[test]
    fn an_answer_claiming_more_rows_than_allowed_is_refused_before_it_is_built() {
        use arrow_array::{NullArray, RecordBatch};
        use arrow_schema::{Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new("C", DataType::Null, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(NullArray::new(50_000_000))],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        assert!(bytes.len() < 4096, "{} bytes", bytes.len());
        let started = std::time::Instant::now();
        let refused = arrow_rows(&bytes, &[column("text", 0)], &mut Allowance::new(1_000_000));
        assert!(
            matches!(refused, Err(SourceError::TooLarge(_))),
            "{refused:?}"
        );
        let refused = arrow_rows(
            &bytes,
            &[column("text", 0)],
            &mut Allowance::new(usize::MAX),
        );
        assert!(
            matches!(refused, Err(SourceError::TooLarge(_))),
            "past the bytes: {refused:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn decimals_are_spelled_exactly() {
        assert_eq!(decimal(1234, 2), "12.34");
        assert_eq!(decimal(-5, 3), "-0.005");
        assert_eq!(decimal(7, 0), "7");
        assert_eq!(split_scaled(-1, 3), (-1, 999_000_000));
    }
}
