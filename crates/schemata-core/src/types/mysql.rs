//! MySQL and MariaDB types, from `information_schema.COLUMNS` (`DATA_TYPE` and
//! the full `COLUMN_TYPE`, which carries `(1)`, `unsigned` and enum values).

use super::FieldType;

impl FieldType {
    pub fn from_mysql(data_type: &str, column_type: &str) -> Self {
        let column_type = column_type.to_ascii_lowercase();
        match data_type.to_ascii_lowercase().as_str() {
            // The MySQL convention for booleans.
            "tinyint" if column_type.starts_with("tinyint(1)") => Self::Boolean,
            "bit" if column_type == "bit(1)" => Self::Boolean,
            "bool" | "boolean" => Self::Boolean,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                Self::Integer
            }
            "decimal" | "numeric" | "float" | "double" | "real" | "double precision" => {
                Self::Number
            }
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" => {
                Self::String
            }
            "set" => Self::Array,
            "date" => Self::Date,
            "datetime" | "timestamp" => Self::Datetime,
            "time" => Self::Time,
            "json" => Self::Json,
            "uuid" => Self::Uuid,
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                Self::Binary
            }
            "bit" => Self::Binary,
            // Spatial types, read as WKT.
            "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
            | "multipolygon" | "geometrycollection" | "geomcollection" => Self::String,
            "inet4" | "inet6" => Self::String,
            _ => Self::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::FieldType::{self, *};

    #[test]
    fn every_common_mysql_type_normalizes() {
        let cases: &[(&str, &str, FieldType)] = &[
            ("tinyint", "tinyint(1)", Boolean),
            ("tinyint", "tinyint(4)", Integer),
            ("tinyint", "tinyint(3) unsigned", Integer),
            ("bit", "bit(1)", Boolean),
            ("bit", "bit(8)", Binary),
            ("smallint", "smallint(5) unsigned", Integer),
            ("mediumint", "mediumint(8) unsigned", Integer),
            ("int", "int(11)", Integer),
            ("bigint", "bigint(20) unsigned", Integer),
            ("year", "year(4)", Integer),
            ("decimal", "decimal(5,2)", Number),
            ("float", "float", Number),
            ("double", "double", Number),
            ("char", "char(3)", String),
            ("varchar", "varchar(45)", String),
            ("text", "text", String),
            ("mediumtext", "mediumtext", String),
            ("longtext", "longtext", String),
            ("enum", "enum('G','PG','PG-13','R','NC-17')", String),
            ("set", "set('Trailers','Commentaries')", Array),
            ("date", "date", Date),
            ("datetime", "datetime", Datetime),
            ("timestamp", "timestamp", Datetime),
            ("time", "time", Time),
            ("json", "json", Json),
            ("uuid", "uuid", Uuid),
            ("binary", "binary(16)", Binary),
            ("varbinary", "varbinary(255)", Binary),
            ("blob", "blob", Binary),
            ("longblob", "longblob", Binary),
            ("geometry", "geometry", String),
            ("point", "point", String),
            ("inet6", "inet6", String),
            ("vector", "vector(3)", Unknown),
        ];
        for (data_type, column_type, expected) in cases {
            assert_eq!(
                FieldType::from_mysql(data_type, column_type),
                *expected,
                "{column_type}"
            );
        }
    }
}
