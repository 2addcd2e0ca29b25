//! The `last_result` of a run: counts of what the cache now holds for the
//! refreshed scope, and a message a person can read.

use schemata_core::{ObjectKind, RefreshFailure, RefreshResult, SchemaId, refresh::SchemaSummary};
use schemata_store::runs::RunRow;
use std::{collections::BTreeMap, time::Instant};

/// Failures named in the message; the rest are counted.
const NAMED_FAILURES: usize = 5;

/// Summarizes a run from the objects in its scope (id, kind, field count).
pub(crate) fn summarize(
    run: &RunRow,
    present: impl Iterator<Item = (SchemaId, ObjectKind, usize)>,
    mut failures: Vec<RefreshFailure>,
    deleted_count: usize,
    started: Instant,
) -> RefreshResult {
    failures.sort_by(|a, b| a.object.cmp(&b.object));
    let mut per_schema: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut tables, mut views, mut columns) = (0, 0, 0);
    for (id, kind, fields) in present {
        let counts = per_schema.entry(id.schema).or_default();
        if kind.is_view() {
            counts.1 += 1;
            views += 1;
        } else {
            counts.0 += 1;
            tables += 1;
        }
        columns += fields;
    }
    RefreshResult {
        job_id: run.id,
        ok: failures.is_empty(),
        message: message(tables, &failures, deleted_count),
        table_count: tables,
        view_count: views,
        column_count: columns,
        failed_table_count: failures.len(),
        deleted_count,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        schemas: per_schema
            .into_iter()
            .map(|(schema, (tables, views))| SchemaSummary {
                schema_name: schema,
                tables_count: tables,
                views_count: views,
            })
            .collect(),
        failures,
        objects_read: 0,
        objects_written: 0,
        changed: false,
    }
}

/// `Refresh complete. 4 table(s) refreshed, 1 failed: public.invoices (permission denied).`
fn message(tables: usize, failures: &[RefreshFailure], deleted: usize) -> String {
    if failures.is_empty() {
        return format!(
            "Refresh complete. {tables} table(s) refreshed, 0 failed, {deleted} deleted."
        );
    }
    let mut named: Vec<String> = failures
        .iter()
        .take(NAMED_FAILURES)
        .map(|f| format!("{} ({})", f.object, f.error))
        .collect();
    if failures.len() > NAMED_FAILURES {
        named.push(format!("and {} more", failures.len() - NAMED_FAILURES));
    }
    let mut message = format!(
        "Refresh complete. {tables} table(s) refreshed, {} failed: {}.",
        failures.len(),
        named.join(", ")
    );
    if deleted > 0 {
        message.push_str(&format!(" {deleted} deleted."));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_failures_as_the_contract_shows() {
        let failures = vec![RefreshFailure {
            object: "public.invoices".into(),
            error: "permission denied".into(),
        }];
        assert_eq!(
            message(4, &failures, 0),
            "Refresh complete. 4 table(s) refreshed, 1 failed: public.invoices (permission denied)."
        );
        assert_eq!(
            message(5, &[], 1),
            "Refresh complete. 5 table(s) refreshed, 0 failed, 1 deleted."
        );
        let many: Vec<RefreshFailure> = (0..7)
            .map(|n| RefreshFailure {
                object: format!("s.t{n}"),
                error: "gone".into(),
            })
            .collect();
        assert!(message(0, &many, 0).ends_with("s.t4 (gone), and 2 more."));
    }
}
