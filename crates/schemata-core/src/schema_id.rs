use serde::{Deserialize, Serialize};
use std::fmt;

/// Address of a cached object: `schema.name`, e.g. `public.users`.
///
/// The first dot separates schema from name, so object names may contain dots
/// (`public.v1.users` is object `v1.users` in schema `public`); schema names may not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchemaId {
    pub schema: String,
    pub name: String,
}

impl SchemaId {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err("schema ids must not contain NUL characters".into());
        }
        match raw.split_once('.') {
            Some((schema, name)) if !schema.is_empty() && !name.is_empty() => {
                Ok(Self::new(schema, name))
            }
            _ => Err(format!(
                "invalid schema id `{raw}`: expected `schema.name`, e.g. `public.users`"
            )),
        }
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_ids_split_on_the_first_dot() {
        assert_eq!(
            SchemaId::parse("public.users").unwrap(),
            SchemaId::new("public", "users")
        );
        assert_eq!(
            SchemaId::parse("public.v1.users").unwrap(),
            SchemaId::new("public", "v1.users")
        );
        for bad in ["users", ".users", "public.", "", "public.a\0b"] {
            assert!(SchemaId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn schema_ids_round_trip_through_display() {
        let id = SchemaId::new("sales", "order items");
        assert_eq!(SchemaId::parse(&id.to_string()).unwrap(), id);
    }
}
