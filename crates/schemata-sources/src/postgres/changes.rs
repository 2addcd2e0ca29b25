//! Knowing what changed in a PostgreSQL catalog without reading it all.
//!
//! Every DDL statement inserts or updates catalog rows, and a row's `xmin` is
//! the transaction that wrote it. After a refresh we keep the oldest
//! transaction still running when its snapshot was taken; the next refresh
//! asks for relations with catalog rows written since then (in `pg_class`,
//! `pg_attribute`, `pg_attrdef`, `pg_constraint`, `pg_index`, `pg_description`,
//! `pg_inherits`, their namespace, and the types and enums their columns use).
//! Deleted rows leave no trace, so we also keep how many keys, indexes,
//! comments and partitions each relation had, and how many relations the scope
//! held. Nothing newer and nothing recounted: the refresh reads nothing more.

use schemata_core::{RefreshOptions, SchemaFilter, TableAllowlist};
use serde::{Deserialize, Serialize};
use sqlx::postgres::types::Oid;

/// Transactions a stored state stays usable for; past that the xid comparison
/// could wrap around, and the next refresh reads everything.
const MAX_AGE: i64 = 1_000_000_000;

/// What a refresh keeps of the catalog for the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct CatalogState {
    pub format: u32,
    pub scope: Scope,
    /// `txid_snapshot_xmin` of the snapshot the state describes.
    pub snapshot_xmin: i64,
    pub in_scope: i64,
    pub memberships: i64,
    pub counts: Counts,
    /// Objects that failed last time, read again whatever changed.
    pub retry: Vec<String>,
}

/// The filters a state was taken under; another scope means another catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Scope {
    pub schemas: Vec<String>,
    pub tables: Vec<String>,
}

impl Scope {
    pub fn of(filter: &SchemaFilter, allowlist: &TableAllowlist) -> Self {
        Self {
            schemas: filter.names().to_vec(),
            tables: allowlist.entries().to_vec(),
        }
    }
}

/// Per relation and catalog, how many rows it had: three parallel arrays, the
/// shape the CHANGES query binds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Counts {
    pub catalog: Vec<String>,
    pub relid: Vec<u32>,
    pub n: Vec<i32>,
}

#[derive(sqlx::FromRow)]
pub(super) struct CountRow {
    pub catalog: String,
    pub relid: Oid,
    pub n: i32,
}

impl Counts {
    pub fn from_rows(rows: Vec<CountRow>) -> Self {
        let mut counts = Self::default();
        for row in rows {
            counts.catalog.push(row.catalog);
            counts.relid.push(row.relid.0);
            counts.n.push(row.n);
        }
        counts
    }

    pub fn relids(&self) -> Vec<Oid> {
        self.relid.iter().map(|r| Oid(*r)).collect()
    }
}

/// The answer of the CHANGES query.
#[derive(sqlx::FromRow, Debug)]
pub(super) struct ChangeRow {
    pub in_scope: i64,
    pub changed: Vec<Oid>,
    pub memberships_changed: bool,
}

impl CatalogState {
    pub const FORMAT: u32 = 1;

    /// The stored state, if it can tell this refresh what changed: same format,
    /// same scope, a full refresh (a partial one reads only what it names), and
    /// not so old that transaction ids could have wrapped around.
    pub fn usable(
        stored: Option<&serde_json::Value>,
        scope: &Scope,
        options: &RefreshOptions,
        snapshot_xmax: i64,
    ) -> Option<Self> {
        if options.is_partial() {
            return None;
        }
        let state: Self = serde_json::from_value(stored?.clone()).ok()?;
        (state.format == Self::FORMAT
            && state.scope == *scope
            && snapshot_xmax - state.snapshot_xmin < MAX_AGE
            && snapshot_xmax >= state.snapshot_xmin)
            .then_some(state)
    }

    /// True when the check found nothing to read.
    pub fn unchanged(&self, check: &ChangeRow) -> bool {
        check.changed.is_empty()
            && !check.memberships_changed
            && check.in_scope == self.in_scope
            && self.retry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> CatalogState {
        CatalogState {
            format: CatalogState::FORMAT,
            scope: Scope {
                schemas: vec!["public".into()],
                tables: vec![],
            },
            snapshot_xmin: 1000,
            in_scope: 3,
            memberships: 1,
            counts: Counts::default(),
            retry: vec![],
        }
    }

    #[test]
    fn a_state_is_used_only_for_the_same_scope_a_full_refresh_and_a_recent_snapshot() {
        let stored = serde_json::to_value(state()).unwrap();
        let scope = state().scope;
        let full = RefreshOptions::default();
        assert!(CatalogState::usable(Some(&stored), &scope, &full, 2000).is_some());
        assert!(CatalogState::usable(None, &scope, &full, 2000).is_none());
        let other = Scope {
            schemas: vec![],
            tables: vec![],
        };
        assert!(CatalogState::usable(Some(&stored), &other, &full, 2000).is_none());
        let partial = RefreshOptions::parse(Some(false), Some("public"), None).unwrap();
        assert!(CatalogState::usable(Some(&stored), &scope, &partial, 2000).is_none());
        assert!(CatalogState::usable(Some(&stored), &scope, &full, 2_000_000_000).is_none());
        assert!(CatalogState::usable(Some(&json!({"format": 99})), &scope, &full, 2000).is_none());
    }

    #[test]
    fn unchanged_means_nothing_newer_nothing_recounted_and_nothing_to_retry() {
        let quiet = ChangeRow {
            in_scope: 3,
            changed: vec![],
            memberships_changed: false,
        };
        assert!(state().unchanged(&quiet));
        let dropped = ChangeRow {
            in_scope: 2,
            ..quiet
        };
        assert!(!state().unchanged(&dropped));
        let mut retrying = state();
        retrying.retry.push("public.t".into());
        assert!(!retrying.unchanged(&ChangeRow {
            in_scope: 3,
            changed: vec![],
            memberships_changed: false
        }));
    }
}
