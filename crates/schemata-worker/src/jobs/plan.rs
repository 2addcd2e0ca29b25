//! What a refresh writes, decided without a database: which objects of a
//! batch changed (by content hash against the cache's index), and at the end
//! what is removed, whether the cache keeps objects the listing lacks, the
//! version, and what the run's summary counts. Apply carries it out.

use schemata_core::{
    ObjectKind, RefreshFailure, RefreshOptions, RunStatus, SchemaId, SchemaObject, StoredForm,
    schema_version,
};
use schemata_sources::Introspection;
use schemata_store::snapshots::CachedEntry;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The objects of a batch whose content differs from what the cache holds.
pub(crate) fn changed(
    cached: &HashMap<SchemaId, CachedEntry>,
    batch: Vec<(SchemaObject, StoredForm)>,
) -> Vec<(SchemaObject, StoredForm)> {
    batch
        .into_iter()
        .filter(|(object, stored)| {
            cached
                .get(&object.id())
                .is_none_or(|entry| entry.content_hash != stored.content_hash)
        })
        .collect()
}

/// What the run did to the cache before its end: the objects it read in
/// full (kind, field count) and the content hashes it wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub read: HashMap<SchemaId, (ObjectKind, usize)>,
    pub hashes: HashMap<SchemaId, String>,
}

/// How a run ends, as far as the cache goes.
#[derive(Debug, PartialEq)]
pub(crate) enum Ending {
    /// Every object in scope failed: no refresh at all; nothing is written and
    /// the run fails with this message.
    EveryObjectFailed(String),
    Close(Closing),
}

#[derive(Debug, PartialEq)]
pub(crate) struct Closing {
    pub status: RunStatus,
    /// Cached objects gone from the source (hard refresh), in id order.
    pub removed: Vec<SchemaId>,
    /// Whether the cache now keeps objects the listing lacks (a soft
    /// refresh kept them); None when the run did not list the scope.
    pub keeps_unlisted: Option<bool>,
    /// The cache's new version; None when it is as it was.
    pub version: Option<String>,
    /// What the source learned of its catalog, to keep for the next refresh.
    pub catalog_state: Option<Value>,
    /// The objects in scope now (id, kind, field count), for the summary.
    pub in_scope: Vec<(SchemaId, ObjectKind, usize)>,
    pub failures: Vec<RefreshFailure>,
}

/// Plans the end of a run from the cache's index as it was, what the source
/// said, the run's options and what the run wrote.
pub(crate) fn ending(
    cached: &HashMap<SchemaId, CachedEntry>,
    introspection: Introspection,
    options: &RefreshOptions,
    written: &Written,
) -> Ending {
    // Unchanged is no listing: what the cache keeps is as it was.
    let listed = !options.is_partial() && matches!(introspection, Introspection::Read(_));
    let (present, failures, catalog_state) = match introspection {
        Introspection::Unchanged => (cached.keys().cloned().collect(), vec![], None),
        Introspection::Read(listing) => (listing.present, listing.failures, listing.catalog_state),
    };
    let present: HashSet<SchemaId> = present.into_iter().collect();
    let failed: HashSet<SchemaId> = failures
        .iter()
        .filter_map(|f| SchemaId::parse(&f.object).ok())
        .collect();
    if !present.is_empty() && present.iter().all(|id| failed.contains(id)) {
        let first = failures.iter().min_by(|a, b| a.object.cmp(&b.object));
        return Ending::EveryObjectFailed(format!(
            "Every object failed ({} of them); the first: {}",
            failures.len(),
            first.map_or(String::new(), |f| format!("{} ({})", f.object, f.error))
        ));
    }
    let mut removed: Vec<SchemaId> = if options.hard_refresh {
        cached
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect()
    } else {
        vec![]
    };
    removed.sort();
    // A soft refresh that kept what the listing no longer has leaves the next
    // hard refresh something to remove, whatever the catalog state will say.
    let keeps_unlisted =
        listed.then(|| !options.hard_refresh && cached.keys().any(|id| !present.contains(id)));
    let gone: HashSet<&SchemaId> = removed.iter().collect();
    // A first refresh that found nothing still gives the cache a version (of
    // the empty schema), as any refreshed cache has.
    let unchanged = written.hashes.is_empty() && removed.is_empty() && !cached.is_empty();
    let version = (!unchanged).then(|| {
        schema_version(
            cached
                .iter()
                .filter(|(id, _)| !gone.contains(id))
                .map(|(id, entry)| {
                    let hash = written.hashes.get(id).unwrap_or(&entry.content_hash);
                    (id.clone(), hash.clone())
                })
                .chain(
                    written
                        .hashes
                        .iter()
                        .filter(|(id, _)| !cached.contains_key(*id))
                        .map(|(id, hash)| (id.clone(), hash.clone())),
                ),
        )
    });
    let mut in_scope: Vec<(SchemaId, ObjectKind, usize)> = present
        .iter()
        .filter(|id| !failed.contains(*id))
        .filter_map(|id| {
            let (kind, fields) = written.read.get(id).copied().or_else(|| {
                let entry = cached.get(id)?;
                Some((entry.kind, usize::try_from(entry.field_count).unwrap_or(0)))
            })?;
            Some((id.clone(), kind, fields))
        })
        .collect();
    in_scope.sort_by(|a, b| a.0.cmp(&b.0));
    Ending::Close(Closing {
        status: if failures.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::Partial
        },
        removed,
        keeps_unlisted,
        version,
        catalog_state,
        in_scope,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemata_sources::Listing;

    fn entry(hash: &str) -> CachedEntry {
        CachedEntry {
            kind: ObjectKind::Table,
            field_count: 2,
            content_hash: hash.into(),
            references: vec![],
        }
    }

    fn id(name: &str) -> SchemaId {
        SchemaId::new("public", name)
    }

    fn cached(names: &[&str]) -> HashMap<SchemaId, CachedEntry> {
        names
            .iter()
            .map(|n| (id(n), entry(&format!("h-{n}"))))
            .collect()
    }

    fn listing(names: &[&str], failures: &[&str]) -> Introspection {
        Introspection::Read(Listing {
            present: names.iter().map(|n| id(n)).collect(),
            failures: failures
                .iter()
                .map(|n| RefreshFailure {
                    object: id(n).to_string(),
                    error: "permission denied".into(),
                })
                .collect(),
            catalog_state: None,
        })
    }

    fn soft() -> RefreshOptions {
        RefreshOptions {
            hard_refresh: false,
            ..RefreshOptions::default()
        }
    }

    fn close(ending: Ending) -> Closing {
        match ending {
            Ending::Close(closing) => closing,
            other => panic!("expected a closing, got {other:?}"),
        }
    }

    #[test]
    fn a_hard_refresh_removes_what_the_listing_lacks_and_a_soft_one_keeps_it_and_says_so() {
        let index = cached(&["a", "b"]);
        let written = Written::default();
        let hard = close(ending(
            &index,
            listing(&["b"], &[]),
            &RefreshOptions::default(),
            &written,
        ));
        assert_eq!(hard.removed, [id("a")]);
        assert_eq!(hard.keeps_unlisted, Some(false));
        assert!(hard.version.is_some(), "a removal is a new version");
        let kept = close(ending(&index, listing(&["b"], &[]), &soft(), &written));
        assert!(kept.removed.is_empty());
        assert_eq!(
            kept.keeps_unlisted,
            Some(true),
            "the next hard refresh must list"
        );
        assert_eq!(kept.version, None, "nothing written, nothing removed");
        let unchanged = close(ending(&index, Introspection::Unchanged, &soft(), &written));
        assert_eq!(unchanged.keeps_unlisted, None, "no listing, nothing known");
        let partial = RefreshOptions::parse(Some(false), Some("public"), None).unwrap();
        let partial = close(ending(&index, listing(&["b"], &[]), &partial, &written));
        assert_eq!(
            partial.keeps_unlisted, None,
            "a partial listing says nothing of the rest"
        );
    }

    #[test]
    fn written_objects_make_a_version_of_the_whole_cache() {
        let index = cached(&["a"]);
        let mut written = Written::default();
        written.hashes.insert(id("b"), "h-b".into());
        written.read.insert(id("b"), (ObjectKind::View, 3));
        let closing = close(ending(
            &index,
            listing(&["a", "b"], &[]),
            &RefreshOptions::default(),
            &written,
        ));
        assert_eq!(
            closing.version,
            Some(schema_version([
                (id("a"), "h-a".into()),
                (id("b"), "h-b".into())
            ]))
        );
        assert_eq!(
            closing.in_scope,
            [
                (id("a"), ObjectKind::Table, 2),
                (id("b"), ObjectKind::View, 3)
            ]
        );
        assert_eq!(closing.status, RunStatus::Succeeded);
        let empty = close(ending(
            &HashMap::new(),
            listing(&[], &[]),
            &RefreshOptions::default(),
            &Written::default(),
        ));
        assert_eq!(
            empty.version,
            Some(schema_version([])),
            "an empty source still has a version"
        );
    }

    #[test]
    fn failures_make_a_partial_run_unless_every_object_failed() {
        let index = cached(&["a", "b"]);
        let written = Written::default();
        let partial = close(ending(
            &index,
            listing(&["a", "b"], &["a"]),
            &RefreshOptions::default(),
            &written,
        ));
        assert_eq!(partial.status, RunStatus::Partial);
        assert!(
            partial.removed.is_empty(),
            "a failed object keeps its cached version"
        );
        assert_eq!(partial.in_scope, [(id("b"), ObjectKind::Table, 2)]);
        match ending(
            &index,
            listing(&["a", "b"], &["a", "b"]),
            &RefreshOptions::default(),
            &written,
        ) {
            Ending::EveryObjectFailed(message) => {
                assert!(
                    message.starts_with("Every object failed (2 of them)"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_batch_keeps_only_what_differs_from_the_cache() {
        let index = cached(&["a", "b"]);
        let object = |name: &str| SchemaObject::new("public", name, ObjectKind::Table);
        let stored = |hash: &str| StoredForm {
            content_hash: hash.into(),
            ..StoredForm::of(&object("x"))
        };
        let batch = vec![
            (object("a"), stored("h-a")),
            (object("b"), stored("other")),
            (object("c"), stored("h-c")),
        ];
        let ids: Vec<SchemaId> = changed(&index, batch).iter().map(|(o, _)| o.id()).collect();
        assert_eq!(ids, [id("b"), id("c")]);
    }
}
