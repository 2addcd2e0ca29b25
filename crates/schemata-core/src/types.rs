use serde::{Deserialize, Serialize};

/// A field's type normalized across sources; `remote_type` keeps the source's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Datetime,
    Date,
    Time,
    Json,
    Uuid,
    Binary,
    Array,
    Unknown,
}

impl FieldType {
    pub const ALL: [FieldType; 12] = [
        Self::String,
        Self::Integer,
        Self::Number,
        Self::Boolean,
        Self::Datetime,
        Self::Date,
        Self::Time,
        Self::Json,
        Self::Uuid,
        Self::Binary,
        Self::Array,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Datetime => "datetime",
            Self::Date => "date",
            Self::Time => "time",
            Self::Json => "json",
            Self::Uuid => "uuid",
            Self::Binary => "binary",
            Self::Array => "array",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Normalizes a PostgreSQL type from its base type name (domains resolved) and
    /// `pg_type.typcategory`, so that enums, domains and arrays land sensibly.
    pub fn from_postgres(base_type: &str, category: &str) -> Self {
        match base_type {
            "bool" => Self::Boolean,
            "int2" | "int4" | "int8" | "oid" | "xid" => Self::Integer,
            "float4" | "float8" | "numeric" | "money" => Self::Number,
            "timestamp" | "timestamptz" => Self::Datetime,
            "date" => Self::Date,
            "time" | "timetz" => Self::Time,
            "json" | "jsonb" => Self::Json,
            "uuid" => Self::Uuid,
            "bytea" => Self::Binary,
            _ => match category {
                "A" => Self::Array,
                // strings, enums, network addresses, bit strings, intervals, full-text types
                "S" | "E" | "I" | "V" | "T" => Self::String,
                "N" => Self::Number,
                "B" => Self::Boolean,
                _ => Self::Unknown,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_types_normalize_by_name_then_category() {
        assert_eq!(FieldType::from_postgres("int4", "N"), FieldType::Integer);
        assert_eq!(FieldType::from_postgres("numeric", "N"), FieldType::Number);
        assert_eq!(
            FieldType::from_postgres("timestamptz", "D"),
            FieldType::Datetime
        );
        assert_eq!(FieldType::from_postgres("_text", "A"), FieldType::Array);
        assert_eq!(
            FieldType::from_postgres("mpaa_rating", "E"),
            FieldType::String
        );
        assert_eq!(
            FieldType::from_postgres("tsvector", "U"),
            FieldType::Unknown
        );
        assert_eq!(FieldType::from_postgres("interval", "T"), FieldType::String);
    }

    #[test]
    fn every_field_type_round_trips_through_its_name() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
    }
}
