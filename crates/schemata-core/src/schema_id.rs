use serde::{Deserialize, Serialize};
use std::fmt;

/// Address of a cached object: `schema.name`, e.g. `public.users`.
///
/// A part that contains `.` or `"` is written in double quotes with `"`
/// doubled, so every pair of parts has one spelling and every spelling one
/// pair: table `b.c` of schema `a` is `a."b.c"`, table `c` of schema `a.b` is
/// `"a.b".c`. Any part may be quoted when read (`"public"."users"` is
/// `public.users`); written, only the parts that need it are.
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
        let invalid = |why: &str| {
            format!(
                "invalid schema id `{raw}`: {why}; expected `schema.name`, e.g. `public.users`, \
                 with a part that contains `.` or `\"` in double quotes (`public.\"v1.users\"`)"
            )
        };
        let (schema, rest) = part(raw).map_err(&invalid)?;
        let rest = rest
            .strip_prefix('.')
            .ok_or_else(|| invalid("no `.` between schema and name"))?;
        let (name, rest) = part(rest).map_err(&invalid)?;
        if !rest.is_empty() {
            return Err(invalid(
                "more than two parts (a name with a dot must be quoted)",
            ));
        }
        Ok(Self::new(schema, name))
    }

    /// A comma-separated list of ids (`tables=a.t1,b."t,2"`): a comma inside
    /// double quotes belongs to its part, spaces around an entry go.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        split_list(raw).iter().map(|id| Self::parse(id)).collect()
    }

    /// A comma-separated list of schema names (`schemas=a,"b,c"`), each as
    /// written or double-quoted as an id's part is.
    pub fn parse_schema_list(raw: &str) -> Result<Vec<String>, String> {
        split_list(raw)
            .iter()
            .map(|name| match part(name) {
                Ok((schema, "")) => Ok(schema),
                _ if !name.starts_with('"') => Ok(name.clone()),
                Err(why) => Err(format!("invalid schema name `{name}`: {why}")),
                Ok(_) => Err(format!(
                    "invalid schema name `{name}`: text after its closing `\"`"
                )),
            })
            .collect()
    }

    /// How a part is written in an id: as is, or quoted when it must be.
    pub fn quote_part(part: &str) -> String {
        if needs_quotes(part) {
            format!("\"{}\"", part.replace('"', "\"\""))
        } else {
            part.to_owned()
        }
    }
}

/// Splits at commas outside double quotes; trims each entry, drops empty ones.
fn split_list(raw: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => entries.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    entries.push(current);
    entries
        .into_iter()
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn needs_quotes(part: &str) -> bool {
    part.contains(['.', '"'])
}

/// One part at the start of `raw`, and what follows it.
fn part(raw: &str) -> Result<(String, &str), &'static str> {
    if let Some(quoted) = raw.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            if c != '"' {
                value.push(c);
                continue;
            }
            if quoted[at + 1..].starts_with('"') {
                value.push('"');
                chars.next();
                continue;
            }
            if value.is_empty() {
                return Err("an empty part");
            }
            return Ok((value, &quoted[at + 1..]));
        }
        return Err("an unclosed `\"`");
    }
    let end = raw.find(['.', '"']).unwrap_or(raw.len());
    if raw[end..].starts_with('"') {
        return Err("a `\"` inside an unquoted part");
    }
    if end == 0 {
        return Err("an empty part");
    }
    Ok((raw[..end].to_owned(), &raw[end..]))
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            Self::quote_part(&self.schema),
            Self::quote_part(&self.name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_schema_dot_name() {
        assert_eq!(
            SchemaId::parse("public.users").unwrap(),
            SchemaId::new("public", "users")
        );
        assert_eq!(SchemaId::new("public", "users").to_string(), "public.users");
        for bad in [
            "users",
            ".users",
            "public.",
            "",
            "public.a\0b",
            "public.v1.users",
            "a.b.c",
            "pub\"lic.users",
            "\"public.users",
            "\"\".users",
            "public.\"\"",
            "\"a\"b.c",
        ] {
            assert!(SchemaId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn parts_with_dots_or_quotes_are_quoted_and_two_such_tables_never_share_an_id() {
        let name_with_dot = SchemaId::new("a", "b.c");
        let schema_with_dot = SchemaId::new("a.b", "c");
        assert_eq!(name_with_dot.to_string(), "a.\"b.c\"");
        assert_eq!(schema_with_dot.to_string(), "\"a.b\".c");
        assert_ne!(name_with_dot.to_string(), schema_with_dot.to_string());
        let quoted = SchemaId::new("say \"hi\"", "t");
        assert_eq!(quoted.to_string(), "\"say \"\"hi\"\"\".t");
        assert_eq!(
            SchemaId::parse("\"public\".\"users\"").unwrap(),
            SchemaId::new("public", "users"),
            "a part that need not be quoted may be"
        );
    }

    #[test]
    fn lists_split_at_commas_outside_quotes() {
        assert_eq!(
            SchemaId::parse_list(r#" public.a , "q""s"."t,1",b.c "#).unwrap(),
            [
                SchemaId::new("public", "a"),
                SchemaId::new("q\"s", "t,1"),
                SchemaId::new("b", "c")
            ]
        );
        assert_eq!(
            SchemaId::parse_schema_list(r#"public, "a,b" ,, "c""d""#).unwrap(),
            ["public", "a,b", "c\"d"]
        );
        assert!(SchemaId::parse_list("a.b,c").is_err(), "`c` is no id");
        assert_eq!(
            SchemaId::parse_list(r#""s, t"."u,v"," x"."y ""#).unwrap(),
            [SchemaId::new("s, t", "u,v"), SchemaId::new(" x", "y ")],
            "in a list, a part with a comma or edge spaces is quoted"
        );
    }

    #[test]
    fn every_id_round_trips_through_display() {
        let parts = [
            "users",
            "order items",
            "v1.users",
            ".",
            "..",
            "\"",
            "a\"b",
            "\"quoted\"",
            "ünï.cödé",
            "Mixed.Case\"",
            " ",
        ];
        for schema in parts {
            for name in parts {
                let id = SchemaId::new(schema, name);
                let shown = id.to_string();
                assert_eq!(SchemaId::parse(&shown).unwrap(), id, "{shown}");
            }
        }
    }
}
