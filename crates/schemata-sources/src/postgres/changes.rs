//! Knowing what changed in a PostgreSQL catalog without reading it all.
//!
//! Every DDL statement inserts or updates catalog rows, and a row's `xmin` is
//! the transaction that wrote it. After a refresh we keep the oldest
//! transaction still running when its snapshot was taken; the next refresh
//! asks for relations with catalog rows written since then (in `pg_class`,
//! `pg_attribute`, `pg_attrdef`, `pg_constraint`, `pg_index`, `pg_description`,
//! `pg_inherits`, their namespace, and the types and enums their columns use).
//! Deleted rows leave no trace, so we also keep how many keys, indexes,
//! comments and partitions each relation had (one total: a removal alone
//! lowers it, anything added alongside is newer), and how many relations the
//! scope held. Nothing newer and nothing recounted: the refresh reads nothing
//! more.

use schemata_core::{RefreshOptions, SchemaFilter, TableAllowlist};
use serde::{Deserialize, Serialize};
use sqlx::postgres::types::Oid;
use std::collections::HashMap;

/// Transactions a stored state stays usable for; past that the xid comparison
/// could wrap around, and the next refresh reads everything.
const MAX_AGE: i64 = 1_000_000_000;

/// What a refresh keeps of the catalog for the next one. Not reused by a
/// partial refresh, under other filters, on another database, or when so old
/// that transaction ids could have wrapped around.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct CatalogState {
    pub format: u32,
    /// Which database of which server the state describes (`queries::BEGIN`):
    /// a connection pointed elsewhere must not reuse it.
    pub source: String,
    pub scope: Scope,
    /// `txid_snapshot_xmin` of the snapshot the state describes.
    pub snapshot_xmin: i64,
    pub in_scope: i64,
    pub memberships: i64,
    /// Rows of the removable catalogs, in scope or not (`removable_total!`).
    pub removable_total: i64,
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
            tables: allowlist.entries(),
        }
    }
}

/// Per relation with any, how many removable rows it had: two parallel arrays,
/// the shape the CHANGES query binds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Counts {
    pub relid: Vec<u32>,
    pub n: Vec<i32>,
}

impl Counts {
    /// The counts to keep: `read`'s for the relations this refresh read, the
    /// stored ones for the others still in `listed` (they did not change, or
    /// they would have been read).
    pub fn merge(read: &HashMap<Oid, i32>, listed: &[Oid], stored: Option<&Counts>) -> Self {
        let stored: HashMap<u32, i32> = stored
            .map(|s| s.relid.iter().copied().zip(s.n.iter().copied()).collect())
            .unwrap_or_default();
        let mut counts = Self::default();
        for oid in listed {
            let n = read
                .get(oid)
                .copied()
                .or_else(|| stored.get(&oid.0).copied())
                .unwrap_or(0);
            if n > 0 {
                counts.relid.push(oid.0);
                counts.n.push(n);
            }
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
    /// 2: one count per relation (1 kept one per relation and catalog).
    pub const FORMAT: u32 = 2;

    /// The stored state, if it can tell this refresh what changed: same format,
    /// same database, same scope, a full refresh (a partial one reads only what
    /// it names), and not so old that transaction ids could have wrapped around.
    pub fn usable(
        stored: Option<&serde_json::Value>,
        source: &str,
        scope: &Scope,
        options: &RefreshOptions,
        snapshot_xmax: i64,
    ) -> Option<Self> {
        if options.is_partial() {
            return None;
        }
        let state: Self = serde_json::from_value(stored?.clone()).ok()?;
        (state.format == Self::FORMAT
            && state.source == source
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
            source: "7710949615829117054/16384".into(),
            scope: Scope {
                schemas: vec!["public".into()],
                tables: vec![],
            },
            snapshot_xmin: 1000,
            in_scope: 3,
            memberships: 1,
            removable_total: 0,
            counts: Counts::default(),
            retry: vec![],
        }
    }

    #[test]
    fn a_state_is_used_only_for_the_same_scope_a_full_refresh_and_a_recent_snapshot() {
        let stored = serde_json::to_value(state()).unwrap();
        let scope = state().scope;
        let full = RefreshOptions::default();
        let here = "7710949615829117054/16384";
        assert!(CatalogState::usable(Some(&stored), here, &scope, &full, 2000).is_some());
        assert!(CatalogState::usable(None, here, &scope, &full, 2000).is_none());
        for elsewhere in ["7710949615829117054/16385", "1/16384"] {
            assert!(CatalogState::usable(Some(&stored), elsewhere, &scope, &full, 2000).is_none());
        }
        let other = Scope {
            schemas: vec![],
            tables: vec![],
        };
        assert!(CatalogState::usable(Some(&stored), here, &other, &full, 2000).is_none());
        let partial = RefreshOptions::parse(Some(false), Some("public"), None).unwrap();
        assert!(CatalogState::usable(Some(&stored), here, &scope, &partial, 2000).is_none());
        assert!(CatalogState::usable(Some(&stored), here, &scope, &full, 2_000_000_000).is_none());
        assert!(
            CatalogState::usable(Some(&json!({"format": 99})), here, &scope, &full, 2000).is_none()
        );
    }

    #[test]
    fn kept_counts_take_what_was_read_and_carry_the_rest_of_the_listing() {
        let stored = Counts {
            relid: vec![1, 2, 3],
            n: vec![5, 6, 7],
        };
        let read = HashMap::from([(Oid(2), 1), (Oid(4), 2), (Oid(5), 0)]);
        // 3 left the listing; 2 was read again; 4 is new; 5 has no such rows.
        let kept = Counts::merge(&read, &[Oid(1), Oid(2), Oid(4), Oid(5)], Some(&stored));
        assert_eq!(kept.relid, vec![1, 2, 4]);
        assert_eq!(kept.n, vec![5, 1, 2]);
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
