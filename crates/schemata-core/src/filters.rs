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
            if name.contains('\0') {
                return Err("schema_filter entries must not contain NUL characters".into());
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_or_empty_allowlist_means_all() {
        assert!(
            TableAllowlist::parse(vec!["*".into()])
                .unwrap()
                .entries()
                .is_empty()
        );
        assert!(TableAllowlist::parse(vec![]).unwrap().entries().is_empty());
    }

    #[test]
    fn allowlist_entries_are_schema_dot_table_kept_exactly() {
        let list =
            TableAllowlist::parse(vec!["public.Users".into(), "public.Users".into()]).unwrap();
        assert_eq!(list.entries(), ["public.Users".to_string()]);
        assert!(TableAllowlist::parse(vec!["users".into()]).is_err());
        assert!(TableAllowlist::parse(vec!["public.a\0b".into()]).is_err());
    }

    #[test]
    fn schema_filter_rejects_blank_names_and_nul_and_dedupes() {
        assert!(SchemaFilter::parse(vec![" ".into()]).is_err());
        assert!(SchemaFilter::parse(vec!["a\0".into()]).is_err());
        let filter = SchemaFilter::parse(vec!["a".into(), "a".into()]).unwrap();
        assert_eq!(filter.names(), ["a".to_string()]);
    }
}
