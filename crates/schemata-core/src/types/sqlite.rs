//! SQLite declared types. Common names map directly; anything else follows
//! SQLite's own affinity rules (section 3.1 of its datatype documentation).

use super::FieldType;

impl FieldType {
    pub fn from_sqlite(declared: &str) -> Self {
        let declared = declared.trim().to_ascii_uppercase();
        let base = declared.split('(').next().unwrap_or_default().trim();
        match base {
            "BOOLEAN" | "BOOL" => return Self::Boolean,
            "DATE" => return Self::Date,
            "DATETIME" | "TIMESTAMP" => return Self::Datetime,
            "TIME" => return Self::Time,
            "JSON" | "JSONB" => return Self::Json,
            "UUID" => return Self::Uuid,
            "DECIMAL" | "NUMERIC" | "MONEY" => return Self::Number,
            "" => return Self::Unknown,
            _ => {}
        }
        if declared.contains("INT") {
            Self::Integer
        } else if ["CHAR", "CLOB", "TEXT"]
            .iter()
            .any(|s| declared.contains(s))
        {
            Self::String
        } else if declared.contains("BLOB") {
            Self::Binary
        } else if ["REAL", "FLOA", "DOUB"]
            .iter()
            .any(|s| declared.contains(s))
        {
            Self::Number
        } else {
            // NUMERIC affinity.
            Self::Number
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::FieldType::{self, *};

    #[test]
    fn every_common_sqlite_type_normalizes() {
        let cases: &[(&str, FieldType)] = &[
            ("INTEGER", Integer),
            ("INT", Integer),
            ("SMALLINT", Integer),
            ("BIGINT", Integer),
            ("TINYINT", Integer),
            ("UNSIGNED BIG INT", Integer),
            ("TEXT", String),
            ("VARCHAR(45)", String),
            ("CHARACTER(20)", String),
            ("NVARCHAR(100)", String),
            ("CLOB", String),
            ("BLOB", Binary),
            ("REAL", Number),
            ("DOUBLE", Number),
            ("DOUBLE PRECISION", Number),
            ("FLOAT", Number),
            ("NUMERIC", Number),
            ("DECIMAL(10,5)", Number),
            ("BOOLEAN", Boolean),
            ("DATE", Date),
            ("DATETIME", Datetime),
            ("TIMESTAMP", Datetime),
            ("TIME", Time),
            ("JSON", Json),
            ("UUID", Uuid),
            ("", Unknown),
            ("SOMETHING", Number),
        ];
        for (declared, expected) in cases {
            assert_eq!(FieldType::from_sqlite(declared), *expected, "{declared}");
        }
    }
}
