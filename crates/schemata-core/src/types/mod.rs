//! The normalized types of the API (`string`, `integer`, …) and how each kind
//! of source's own types map onto them.

mod mysql;
mod postgres;
mod snowflake;
mod sqlite;

pub use snowflake::SnowflakeType;

use serde::{Deserialize, Serialize};

/// A field's type normalized across sources; `remote_type` keeps the source's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_round_trips_through_its_name() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
    }
}
