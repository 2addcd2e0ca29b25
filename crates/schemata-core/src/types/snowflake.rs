//! Snowflake types, from `INFORMATION_SCHEMA.COLUMNS`: `DATA_TYPE` (`NUMBER`,
//! `TEXT`, `TIMESTAMP_TZ`, …) with its length, precision and scale, spelled
//! back the way DDL writes them (`NUMBER(12,2)`, `VARCHAR(200)`,
//! `TIMESTAMP_TZ(9)`) for `remote_type`.

use super::FieldType;

/// What `INFORMATION_SCHEMA.COLUMNS` says of a column's type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnowflakeType {
    pub data_type: String,
    pub character_length: Option<i64>,
    pub numeric_precision: Option<i64>,
    pub numeric_scale: Option<i64>,
    pub datetime_precision: Option<i64>,
}

impl SnowflakeType {
    /// The DDL spelling: `NUMBER(38,0)`, `VARCHAR(16777216)`, `TIMESTAMP_NTZ(9)`.
    pub fn remote_type(&self) -> String {
        let data_type = self.data_type.trim().to_ascii_uppercase();
        match data_type.as_str() {
            "NUMBER" | "DECIMAL" | "NUMERIC" => {
                match (self.numeric_precision, self.numeric_scale) {
                    (Some(p), Some(s)) => format!("NUMBER({p},{s})"),
                    (Some(p), None) => format!("NUMBER({p},0)"),
                    _ => "NUMBER".into(),
                }
            }
            "TEXT" | "VARCHAR" | "STRING" => match self.character_length {
                Some(n) => format!("VARCHAR({n})"),
                None => "VARCHAR".into(),
            },
            "CHAR" | "CHARACTER" | "BINARY" | "VARBINARY" => match self.character_length {
                Some(n) => format!("{data_type}({n})"),
                None => data_type,
            },
            "TIME" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" | "DATETIME"
            | "TIMESTAMP" => match self.datetime_precision.or(self.numeric_scale) {
                Some(p) => format!("{data_type}({p})"),
                None => data_type,
            },
            _ => data_type,
        }
    }

    pub fn field_type(&self) -> FieldType {
        FieldType::from_snowflake(&self.data_type, self.numeric_scale)
    }
}

impl FieldType {
    /// Never fails: a type this build does not know is `unknown`.
    pub fn from_snowflake(data_type: &str, scale: Option<i64>) -> Self {
        let data_type = data_type.trim().to_ascii_uppercase();
        // `VECTOR(INT, 3)`, `MAP(VARCHAR, NUMBER)`: the family is the first word.
        let family = data_type
            .split(|c: char| c == '(' || c.is_whitespace())
            .next()
            .unwrap_or_default();
        match family {
            "NUMBER" | "DECIMAL" | "NUMERIC" if scale.unwrap_or(0) == 0 => Self::Integer,
            "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" => Self::Integer,
            "NUMBER" | "DECIMAL" | "NUMERIC" | "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE"
            | "REAL" => Self::Number,
            "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" => Self::String,
            "BOOLEAN" => Self::Boolean,
            "DATE" => Self::Date,
            "TIME" => Self::Time,
            "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" | "TIMESTAMP" | "DATETIME" => {
                Self::Datetime
            }
            "VARIANT" | "OBJECT" | "MAP" => Self::Json,
            "ARRAY" | "VECTOR" => Self::Array,
            "BINARY" | "VARBINARY" => Self::Binary,
            // Snowflake renders both as GeoJSON by default.
            "GEOGRAPHY" | "GEOMETRY" => Self::Json,
            _ => Self::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SnowflakeType;
    use crate::FieldType::{self, *};

    fn column(
        data_type: &str,
        length: Option<i64>,
        precision: Option<i64>,
        scale: Option<i64>,
        datetime: Option<i64>,
    ) -> SnowflakeType {
        SnowflakeType {
            data_type: data_type.into(),
            character_length: length,
            numeric_precision: precision,
            numeric_scale: scale,
            datetime_precision: datetime,
        }
    }

    #[test]
    fn every_snowflake_type_normalizes_and_spells_as_ddl_does() {
        let cases: &[(SnowflakeType, &str, FieldType)] = &[
            (
                column("NUMBER", None, Some(38), Some(0), None),
                "NUMBER(38,0)",
                Integer,
            ),
            (
                column("NUMBER", None, Some(12), Some(2), None),
                "NUMBER(12,2)",
                Number,
            ),
            (column("FLOAT", None, None, None, None), "FLOAT", Number),
            (
                column("TEXT", Some(200), None, None, None),
                "VARCHAR(200)",
                String,
            ),
            (
                column("TEXT", Some(16777216), None, None, None),
                "VARCHAR(16777216)",
                String,
            ),
            (
                column("BOOLEAN", None, None, None, None),
                "BOOLEAN",
                Boolean,
            ),
            (column("DATE", None, None, None, None), "DATE", Date),
            (column("TIME", None, None, None, Some(9)), "TIME(9)", Time),
            (
                column("TIMESTAMP_TZ", None, None, None, Some(9)),
                "TIMESTAMP_TZ(9)",
                Datetime,
            ),
            (
                column("TIMESTAMP_NTZ", None, None, None, Some(3)),
                "TIMESTAMP_NTZ(3)",
                Datetime,
            ),
            (
                column("TIMESTAMP_LTZ", None, None, None, None),
                "TIMESTAMP_LTZ",
                Datetime,
            ),
            (column("VARIANT", None, None, None, None), "VARIANT", Json),
            (column("OBJECT", None, None, None, None), "OBJECT", Json),
            (column("ARRAY", None, None, None, None), "ARRAY", Array),
            (
                column("BINARY", Some(8388608), None, None, None),
                "BINARY(8388608)",
                Binary,
            ),
            (
                column("GEOGRAPHY", None, None, None, None),
                "GEOGRAPHY",
                Json,
            ),
            (column("GEOMETRY", None, None, None, None), "GEOMETRY", Json),
            (
                column("VECTOR(INT, 3)", None, None, None, None),
                "VECTOR(INT, 3)",
                Array,
            ),
            (
                column("VECTOR(FLOAT, 256)", None, None, None, None),
                "VECTOR(FLOAT, 256)",
                Array,
            ),
            (
                column("MAP(VARCHAR, NUMBER)", None, None, None, None),
                "MAP(VARCHAR, NUMBER)",
                Json,
            ),
            (column("FILE", None, None, None, None), "FILE", Unknown),
            (
                column("SOMETHING_NEW", None, None, None, None),
                "SOMETHING_NEW",
                Unknown,
            ),
        ];
        for (column, remote, expected) in cases {
            assert_eq!(column.remote_type(), *remote, "{column:?}");
            assert_eq!(column.field_type(), *expected, "{column:?}");
        }
    }
}
