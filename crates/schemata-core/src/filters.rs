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

    /// Whether objects of `schema` pass the filter.
    pub fn admits(&self, schema: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| s == schema)
    }
}

/// Which tables to cache, as exact, case-sensitive schema ids (`schema.table`,
/// quoted as [`SchemaId`] says). Empty, absent or `["*"]` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TableAllowlist(Vec<SchemaId>);

impl TableAllowlist {
    pub fn parse(entries: Vec<String>) -> Result<Self, String> {
        if entries.iter().any(|e| e == "*") {
            return Ok(Self::default());
        }
        let mut kept: Vec<SchemaId> = Vec::new();
        for entry in entries {
            let id = SchemaId::parse(&entry)
                .map_err(|error| format!("table_allowlist entry: {error}, or `*`"))?;
            if !kept.contains(&id) {
                kept.push(id);
            }
        }
        Ok(Self(kept))
    }

    pub fn ids(&self) -> &[SchemaId] {
        &self.0
    }

    /// The entries as stored and shown: each id written the one way it is.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether `id` passes the allowlist.
    pub fn admits(&self, id: &SchemaId) -> bool {
        self.0.is_empty() || self.0.contains(id)
    }
}

/// What a connection caches: its schema filter and its table allowlist. The
/// cache never holds, lists or samples an object outside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheScope {
    pub schema_filter: SchemaFilter,
    pub table_allowlist: TableAllowlist,
}

impl CacheScope {
    pub fn parse(schema_filter: Vec<String>, table_allowlist: Vec<String>) -> Result<Self, String> {
        Ok(Self {
            schema_filter: SchemaFilter::parse(schema_filter)?,
            table_allowlist: TableAllowlist::parse(table_allowlist)?,
        })
    }

    pub fn admits(&self, id: &SchemaId) -> bool {
        self.schema_filter.admits(&id.schema) && self.table_allowlist.admits(id)
    }

    /// Whether every object this scope admits, `wider` admits too, whatever
    /// the source holds: narrowing a connection's scope leaves its cache
    /// complete (once what fell out is removed), widening it does not.
    pub fn is_within(&self, wider: &CacheScope) -> bool {
        if !self.table_allowlist.ids().is_empty() {
            // Only the listed tables (that pass this filter) can be admitted.
            return self
                .table_allowlist
                .ids()
                .iter()
                .filter(|id| self.schema_filter.admits(&id.schema))
                .all(|id| wider.admits(id));
        }
        if !wider.table_allowlist.ids().is_empty() {
            // Every table of some schema, against a finite list.
            return false;
        }
        wider.schema_filter.names().is_empty()
            || (!self.schema_filter.names().is_empty()
                && self
                    .schema_filter
                    .names()
                    .iter()
                    .all(|s| wider.schema_filter.admits(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(filter: &[&str], allowlist: &[&str]) -> CacheScope {
        CacheScope::parse(
            filter.iter().map(|s| s.to_string()).collect(),
            allowlist.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

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
    fn allowlist_entries_are_schema_ids_kept_exactly() {
        let list =
            TableAllowlist::parse(vec!["public.Users".into(), "public.Users".into()]).unwrap();
        assert_eq!(list.entries(), ["public.Users".to_string()]);
        assert!(TableAllowlist::parse(vec!["users".into()]).is_err());
        assert!(TableAllowlist::parse(vec!["public.a\0b".into()]).is_err());
        let quoted = TableAllowlist::parse(vec!["a.\"b.c\"".into(), "\"a.b\".c".into()]).unwrap();
        assert_eq!(
            quoted.ids(),
            [SchemaId::new("a", "b.c"), SchemaId::new("a.b", "c")]
        );
        assert_eq!(quoted.entries(), ["a.\"b.c\"", "\"a.b\".c"]);
        let error = TableAllowlist::parse(vec!["a.b.c".into()]).unwrap_err();
        assert!(error.contains("quoted"), "{error}");
    }

    #[test]
    fn schema_filter_rejects_blank_names_and_nul_and_dedupes() {
        assert!(SchemaFilter::parse(vec![" ".into()]).is_err());
        assert!(SchemaFilter::parse(vec!["a\0".into()]).is_err());
        let filter = SchemaFilter::parse(vec!["a".into(), "a".into()]).unwrap();
        assert_eq!(filter.names(), ["a".to_string()]);
    }

    #[test]
    fn a_scope_admits_what_both_its_filter_and_its_allowlist_admit() {
        let both = scope(&["public"], &["public.keep", "other.t"]);
        assert!(both.admits(&SchemaId::new("public", "keep")));
        assert!(!both.admits(&SchemaId::new("public", "drop")));
        assert!(
            !both.admits(&SchemaId::new("other", "t")),
            "listed, but filtered out"
        );
        assert!(scope(&[], &[]).admits(&SchemaId::new("any", "thing")));
    }

    #[test]
    fn narrowing_is_within_and_widening_is_not() {
        let all = scope(&[], &[]);
        let public = scope(&["public"], &[]);
        let keep = scope(&["public"], &["public.keep"]);
        let keep_only = scope(&[], &["public.keep"]);
        let public_and_other = scope(&["public", "other"], &[]);
        for (narrow, wide) in [
            (&public, &all),
            (&keep, &public),
            (&keep, &all),
            (&keep_only, &public),
            (&public, &public_and_other),
            (&all, &all),
            (&keep, &keep_only),
        ] {
            assert!(narrow.is_within(wide), "{narrow:?} within {wide:?}");
        }
        for (wide, narrow) in [
            (&all, &public),
            (&public, &keep),
            (&public_and_other, &public),
            (&all, &keep_only),
        ] {
            assert!(!wide.is_within(narrow), "{wide:?} not within {narrow:?}");
        }
        // A listed table whose schema the filter drops admits nothing more.
        assert!(scope(&["public"], &["other.t", "public.keep"]).is_within(&keep));
    }
}
