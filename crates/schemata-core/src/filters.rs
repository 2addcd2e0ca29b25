use crate::SchemaId;
use serde::{Deserialize, Serialize};

/// Which schemas of a source to cache. Empty means all (system schemas are never cached).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaFilter(Vec<String>);

impl SchemaFilter {
    pub fn parse(names: Vec<String>) -> Result<Self, String> {
        let mut kept: Vec<String> = Vec::new();
        for name in names {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err("schema_filter entries must not be empty".into());
            }
            if name.len() > 255 {
                return Err(format!(
                    "schema_filter entry `{name}` is longer than 255 characters"
                ));
            }
            if !kept.contains(&name) {
                kept.push(name);
            }
        }
        Ok(Self(kept))
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn allows(&self, schema: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| s == schema)
    }
}

/// Which tables to cache, as exact, case-sensitive `schema.table` entries.
/// Empty, absent or `["*"]` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TableAllowlist(Vec<String>);

impl TableAllowlist {
    pub fn parse(entries: Vec<String>) -> Result<Self, String> {
        if entries.iter().any(|e| e == "*") {
            return Ok(Self::default());
        }
        let mut kept: Vec<String> = Vec::new();
        for entry in entries {
            let id = SchemaId::parse(&entry).map_err(|_| {
                format!("table_allowlist entry `{entry}` must be `schema.table` or `*`")
            })?;
            let entry = id.to_string();
            if !kept.contains(&entry) {
                kept.push(entry);
            }
        }
        Ok(Self(kept))
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    pub fn allows(&self, id: &SchemaId) -> bool {
        self.0.is_empty() || self.0.iter().any(|e| *e == id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_or_empty_allowlist_allows_everything() {
        let id = SchemaId::new("public", "users");
        assert!(TableAllowlist::parse(vec!["*".into()]).unwrap().allows(&id));
        assert!(TableAllowlist::parse(vec![]).unwrap().allows(&id));
    }

    #[test]
    fn allowlist_matches_exactly_and_case_sensitively() {
        let list = TableAllowlist::parse(vec!["public.users".into()]).unwrap();
        assert!(list.allows(&SchemaId::new("public", "users")));
        assert!(!list.allows(&SchemaId::new("public", "Users")));
        assert!(!list.allows(&SchemaId::new("public", "users2")));
        assert!(TableAllowlist::parse(vec!["users".into()]).is_err());
    }

    #[test]
    fn schema_filter_rejects_blank_names_and_dedupes() {
        assert!(SchemaFilter::parse(vec![" ".into()]).is_err());
        let filter = SchemaFilter::parse(vec!["a".into(), "a".into()]).unwrap();
        assert_eq!(filter.names(), ["a".to_string()]);
        assert!(filter.allows("a") && !filter.allows("b"));
    }
}
