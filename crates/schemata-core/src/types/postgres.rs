//! PostgreSQL types, from the base type's name (domains resolved) and its
//! `pg_type.typcategory`, so enums, domains, arrays and extension types land
//! somewhere sensible and never fail a refresh.

use super::FieldType;

impl FieldType {
    pub fn from_postgres(base_type: &str, category: &str) -> Self {
        match base_type {
            "bool" => Self::Boolean,
            "int2" | "int4" | "int8" | "oid" | "xid" | "xid8" | "cid" => Self::Integer,
            "float4" | "float8" | "numeric" | "money" => Self::Number,
            "timestamp" | "timestamptz" => Self::Datetime,
            "date" => Self::Date,
            "time" | "timetz" => Self::Time,
            "json" | "jsonb" | "hstore" => Self::Json,
            "uuid" => Self::Uuid,
            "bytea" => Self::Binary,
            // Extensions: PostGIS (read as WKT/GeoJSON text), citext, ltree, pgvector…
            "geometry" | "geography" | "box2d" | "box3d" | "raster" | "citext" | "ltree"
            | "lquery" | "ltxtquery" | "isbn" | "isbn13" | "issn" | "ean13" | "upc" | "xml"
            | "pg_lsn" | "txid_snapshot" | "pg_snapshot" | "tsvector" | "tsquery" => Self::String,
            "vector" | "halfvec" | "sparsevec" | "cube" | "int2vector" | "oidvector" => Self::Array,
            _ => match category {
                "A" => Self::Array,
                // strings, enums, network addresses, bit strings, intervals, geometric types
                "S" | "E" | "I" | "V" | "T" | "G" => Self::String,
                "N" => Self::Number,
                "B" => Self::Boolean,
                "D" => Self::Datetime,
                "C" => Self::Json,
                _ => Self::Unknown,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::FieldType::{self, *};

    #[test]
    fn every_common_postgres_type_normalizes() {
        let cases: &[(&str, &str, FieldType)] = &[
            ("bool", "B", Boolean),
            ("int2", "N", Integer),
            ("int4", "N", Integer),
            ("int8", "N", Integer),
            ("oid", "N", Integer),
            ("float4", "N", Number),
            ("float8", "N", Number),
            ("numeric", "N", Number),
            ("money", "N", Number),
            ("text", "S", String),
            ("varchar", "S", String),
            ("bpchar", "S", String),
            ("name", "S", String),
            ("char", "Z", Unknown),
            ("timestamp", "D", Datetime),
            ("timestamptz", "D", Datetime),
            ("date", "D", Date),
            ("time", "D", Time),
            ("timetz", "D", Time),
            ("interval", "T", String),
            ("json", "U", Json),
            ("jsonb", "U", Json),
            ("uuid", "U", Uuid),
            ("bytea", "U", Binary),
            ("inet", "I", String),
            ("cidr", "I", String),
            ("macaddr", "U", Unknown),
            ("bit", "V", String),
            ("varbit", "V", String),
            ("point", "G", String),
            ("polygon", "G", String),
            ("tsvector", "U", String),
            ("xml", "U", String),
            ("_text", "A", Array),
            ("_int4", "A", Array),
            ("int4range", "R", Unknown),
            ("mpaa_rating", "E", String),
            ("my_composite", "C", Json),
            ("geometry", "U", String),
            ("geography", "U", String),
            ("citext", "S", String),
            ("hstore", "U", Json),
            ("vector", "U", Array),
            ("some_extension_type", "U", Unknown),
        ];
        for (name, category, expected) in cases {
            assert_eq!(
                FieldType::from_postgres(name, category),
                *expected,
                "{name}"
            );
        }
    }
}
