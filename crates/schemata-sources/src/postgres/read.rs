//! One refresh's reading of a PostgreSQL catalog: open a snapshot, find out
//! what changed since the last refresh (see `changes`), list the scope, and
//! read in full only the relations that need it.

use super::{
    assemble::{
        ColumnsRow, CommentRow, ConstraintRow, DefaultRow, Details, IndexRow, ListingRow, NameRow,
        TypeRow, assemble,
    },
    changes::{CatalogState, ChangeRow, Counts, Scope},
    queries, refuse_own_database,
};
use crate::{
    Budget, Introspection, IntrospectionScope, Listing, ObjectSink, SourceError, SourceLimits,
    fetch::{Rows, fetch_rows},
    send, within,
};
use schemata_core::{RefreshFailure, SchemaId};
use sqlx::{
    PgConnection, Postgres, Row,
    postgres::{PgArguments, PgRow, types::Oid},
};
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

/// Reads the catalog in one REPEATABLE READ, READ ONLY transaction, so every
/// query sees the same moment of the source, and ends it.
pub(super) async fn read(
    conn: &mut PgConnection,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
    policy: &crate::AccessPolicy,
    sink: ObjectSink,
) -> Result<Introspection, SourceError> {
    let deadline = limits.round_trip();
    let opened = within(deadline, async {
        sqlx::raw_sql(queries::BEGIN)
            .fetch_one(&mut *conn)
            .await
            .map_err(SourceError::from_query)
    })
    .await?;
    let marker: Option<String> = opened.try_get("marker").map_err(SourceError::from_query)?;
    refuse_own_database(marker, policy)?;
    let snapshot = Snapshot {
        xmin: opened
            .try_get("snapshot_xmin")
            .map_err(SourceError::from_query)?,
        xmax: opened
            .try_get("snapshot_xmax")
            .map_err(SourceError::from_query)?,
        source: opened.try_get("source").map_err(SourceError::from_query)?,
        superuser: opened
            .try_get::<Option<bool>, _>("superuser")
            .map_err(SourceError::from_query)?
            .unwrap_or(false),
    };
    let result = Reader {
        conn: &mut *conn,
        scope,
        budget: limits.budget(),
        deadline,
        sink,
    }
    .read(snapshot)
    .await;
    if !matches!(result, Err(SourceError::Timeout(_))) {
        let _ = within(deadline, async {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut *conn)
                .await
                .map_err(SourceError::from_query)
        })
        .await;
    }
    result
}

#[derive(sqlx::FromRow)]
struct Totals {
    memberships: i64,
    removable_total: i64,
}

#[derive(Debug, Clone)]
struct Snapshot {
    xmin: i64,
    xmax: i64,
    /// The server's system identifier (when the role may read it) and the
    /// database's oid.
    source: String,
    /// A superuser may read everything: no relation needs its privileges checked.
    superuser: bool,
}

struct Reader<'a> {
    conn: &'a mut PgConnection,
    scope: &'a IntrospectionScope,
    budget: Budget,
    deadline: Duration,
    sink: ObjectSink,
}

/// Relations whose details are read, assembled and sent together: bounds the
/// catalog rows held at once, at the price of a few more round trips.
const CHUNK: usize = 1000;

impl Reader<'_> {
    async fn read(mut self, snapshot: Snapshot) -> Result<Introspection, SourceError> {
        let scope_key = Scope::of(&self.scope.schema_filter, &self.scope.table_allowlist);
        let stored = CatalogState::usable(
            self.scope.known.catalog_state.as_ref(),
            &snapshot.source,
            &scope_key,
            &self.scope.options,
            snapshot.xmax,
        );
        let changed = match &stored {
            Some(state) => {
                let check = self.changes(state).await?;
                let must_list =
                    self.scope.options.hard_refresh && self.scope.known.cache_keeps_unlisted;
                if state.unchanged(&check) && !must_list {
                    return Ok(Introspection::Unchanged);
                }
                (!check.memberships_changed).then_some(check.changed)
            }
            None => None,
        };
        let listing = self.listing().await?;
        let to_read = match (changed, &stored) {
            (Some(changed), Some(stored)) => {
                let cached = self.scope.known.cached.get().await;
                read_set(&listing, &changed, stored, &cached)
            }
            _ => listing.clone(),
        };
        let denied = if snapshot.superuser {
            HashSet::new()
        } else {
            self.unreadable(&to_read).await?
        };
        let (readable, unreadable): (Vec<ListingRow>, Vec<ListingRow>) =
            to_read.into_iter().partition(|r| !denied.contains(&r.oid));
        let failures: Vec<RefreshFailure> = unreadable
            .iter()
            .map(|r| RefreshFailure {
                object: SchemaId::new(&r.schema_name, &r.name).to_string(),
                error: "permission denied".into(),
            })
            .collect();
        let mut columns_read = 0;
        let mut counted: HashMap<Oid, i32> = HashMap::new();
        let assembler = Assembler::start(self.sink.clone());
        for chunk in chunks(&readable) {
            let details = self.details(chunk, &mut columns_read).await?;
            count_removable_rows(chunk, &details, &mut counted);
            assembler.assemble(chunk.to_vec(), details).await?;
        }
        assembler.finish().await?;
        let catalog_state = if self.scope.options.is_partial() {
            None
        } else {
            let listed: Vec<Oid> = listing.iter().map(|r| r.oid).collect();
            let totals = self.totals().await?;
            let state = CatalogState {
                format: CatalogState::FORMAT,
                source: snapshot.source.clone(),
                scope: scope_key,
                snapshot_xmin: snapshot.xmin,
                in_scope: i64::try_from(listing.len()).unwrap_or(i64::MAX),
                memberships: totals.memberships,
                removable_total: totals.removable_total,
                counts: Counts::merge(&counted, &listed, stored.as_ref().map(|s| &s.counts)),
                retry: failures.iter().map(|f| f.object.clone()).collect(),
            };
            Some(serde_json::to_value(state).expect("a catalog state always serializes"))
        };
        Ok(Introspection::Read(Listing {
            present: listing
                .iter()
                .map(|r| SchemaId::new(&r.schema_name, &r.name))
                .collect(),
            failures,
            catalog_state,
        }))
    }

    async fn changes(&mut self, state: &CatalogState) -> Result<ChangeRow, SourceError> {
        let only_tables = self.only_tables();
        let query = sqlx::query(queries::CHANGES)
            .bind(self.scope.schema_filter.names())
            .bind(self.scope.table_allowlist.entries())
            .bind(&self.scope.options.schemas)
            .bind(only_tables)
            .bind(state.snapshot_xmin)
            .bind(state.counts.relids())
            .bind(&state.counts.n)
            .bind(state.memberships)
            .bind(state.removable_total);
        let mut rows: Vec<ChangeRow> = self.fetch(query, Rows::all(1, "change check")).await?;
        rows.pop()
            .ok_or_else(|| SourceError::Query("the change check returned no row".into()))
    }

    async fn listing(&mut self) -> Result<Vec<ListingRow>, SourceError> {
        let cap = self.budget.max_objects();
        let query = sqlx::query(queries::LISTING)
            .bind(self.scope.schema_filter.names())
            .bind(self.scope.table_allowlist.entries())
            .bind(&self.scope.options.schemas)
            .bind(self.only_tables())
            .bind(i64::try_from(cap).unwrap_or(i64::MAX) + 1);
        let rows = self
            .fetch(query, Rows::all(cap, crate::limits::OBJECTS))
            .await?;
        Ok(rows)
    }

    /// Reads the details of a chunk of relations; `columns_read` carries the
    /// column count across chunks, against the refresh's cap.
    async fn details(
        &mut self,
        relations: &[ListingRow],
        columns_read: &mut usize,
    ) -> Result<Details, SourceError> {
        let oids: Vec<Oid> = relations.iter().map(|r| r.oid).collect();
        // Chunks follow the listing's oid order: their bounds are ranges of the
        // catalogs' relid indexes.
        let (Some(first), Some(last)) = (
            oids.iter().min_by_key(|o| o.0).copied(),
            oids.iter().max_by_key(|o| o.0).copied(),
        ) else {
            return Ok(Details::default());
        };
        let max_columns = self.budget.max_columns();
        let columns: Vec<ColumnsRow> = self
            .fetch(
                sqlx::query(queries::COLUMNS)
                    .bind(&oids)
                    .bind(first)
                    .bind(last),
                Rows::all(relations.len(), "relations with columns"),
            )
            .await?;
        *columns_read += columns.iter().map(ColumnsRow::len).sum::<usize>();
        if *columns_read > max_columns {
            return Err(self.budget.too_many("columns", max_columns));
        }
        let used: HashSet<(Oid, i32)> = columns.iter().flat_map(ColumnsRow::types).collect();
        let (type_oids, typmods): (Vec<Oid>, Vec<i32>) = used.into_iter().unzip();
        let types: Vec<TypeRow> = self
            .fetch(
                sqlx::query(queries::TYPES).bind(type_oids).bind(typmods),
                Rows::all(max_columns, "column types"),
            )
            .await?;
        let with_generated: Vec<Oid> = columns
            .iter()
            .filter(|c| c.has_generated())
            .map(|c| c.relid)
            .collect();
        let defaults: Vec<DefaultRow> = self
            .fetch(
                sqlx::query(queries::DEFAULTS)
                    .bind(&oids)
                    .bind(first)
                    .bind(last)
                    .bind(with_generated),
                Rows::all(max_columns, "defaults"),
            )
            .await?;
        let comments: Vec<CommentRow> = self
            .fetch(
                sqlx::query(queries::COMMENTS)
                    .bind(&oids)
                    .bind(first)
                    .bind(last),
                Rows::all(max_columns, "comments"),
            )
            .await?;
        let constraints: Vec<ConstraintRow> = self
            .fetch(
                sqlx::query(queries::CONSTRAINTS)
                    .bind(&oids)
                    .bind(first)
                    .bind(last),
                Rows::all(max_columns, "constraints"),
            )
            .await?;
        let read: HashSet<Oid> = oids.iter().copied().collect();
        let outside: HashSet<Oid> = constraints
            .iter()
            .filter(|c| c.kind == "f" && !read.contains(&c.target_oid))
            .map(|c| c.target_oid)
            .collect();
        let target_names: Vec<NameRow> = if outside.is_empty() {
            Vec::new()
        } else {
            let outside: Vec<Oid> = outside.into_iter().collect();
            self.fetch(
                sqlx::query(queries::TARGET_COLUMNS).bind(outside),
                Rows::all(max_columns, "referenced columns"),
            )
            .await?
        };
        let indexes: Vec<IndexRow> = self
            .fetch(
                sqlx::query(queries::INDEXES)
                    .bind(&oids)
                    .bind(first)
                    .bind(last),
                Rows::all(max_columns, "indexes"),
            )
            .await?;
        Ok(Details {
            columns,
            types,
            defaults,
            comments,
            constraints,
            target_names,
            indexes,
        })
    }

    /// The relations of `relations` the session may not read.
    async fn unreadable(&mut self, relations: &[ListingRow]) -> Result<HashSet<Oid>, SourceError> {
        if relations.is_empty() {
            return Ok(HashSet::new());
        }
        let oids: Vec<Oid> = relations.iter().map(|r| r.oid).collect();
        let cap = oids.len();
        let rows: Vec<(Oid,)> = self
            .fetch(
                sqlx::query(queries::UNREADABLE).bind(oids),
                Rows::all(cap, crate::limits::OBJECTS),
            )
            .await?;
        Ok(rows.into_iter().map(|(oid,)| oid).collect())
    }

    async fn totals(&mut self) -> Result<Totals, SourceError> {
        let mut rows: Vec<Totals> = self
            .fetch(sqlx::query(queries::TOTALS), Rows::all(1, "totals"))
            .await?;
        rows.pop()
            .ok_or_else(|| SourceError::Query("the totals query returned no row".into()))
    }

    fn only_tables(&self) -> Vec<String> {
        self.scope
            .options
            .tables
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Streams a query's rows under the round-trip deadline and the budget.
    async fn fetch<T>(
        &mut self,
        query: sqlx::query::Query<'_, Postgres, PgArguments>,
        limit: Rows,
    ) -> Result<Vec<T>, SourceError>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        fetch_rows(
            &mut *self.conn,
            query,
            &mut self.budget,
            self.deadline,
            limit,
            PgRow::wire_len,
        )
        .await
    }
}

/// Adds up, per relation read, the rows it could lose unnoticed (see
/// `queries::CHANGES`), from the rows just read: the same filters, the same
/// snapshot, no query of their own.
fn count_removable_rows(
    relations: &[ListingRow],
    details: &Details,
    counted: &mut HashMap<Oid, i32>,
) {
    for relation in relations {
        *counted.entry(relation.oid).or_default() += relation.children;
    }
    let relids = details
        .constraints
        .iter()
        .map(|r| r.relid)
        .chain(details.indexes.iter().map(|r| r.relid))
        .chain(details.comments.iter().map(|r| r.relid));
    for relid in relids {
        *counted.entry(relid).or_default() += 1;
    }
}

/// Assembles chunks into objects and sends them on, on a task of its own, so
/// the next chunk's queries run while the last one is assembled.
struct Assembler {
    chunks: Option<tokio::sync::mpsc::Sender<(Vec<ListingRow>, Details)>>,
    task: tokio::task::JoinHandle<Result<(), SourceError>>,
}

impl Assembler {
    fn start(sink: ObjectSink) -> Self {
        let (chunks, mut received) = tokio::sync::mpsc::channel::<(Vec<ListingRow>, Details)>(1);
        let task = tokio::spawn(async move {
            while let Some((relations, details)) = received.recv().await {
                // CPU work off the async threads, which keep the socket drained.
                let objects = tokio::task::spawn_blocking(move || assemble(&relations, details))
                    .await
                    .map_err(|e| SourceError::Query(format!("assembling stopped: {e}")))?;
                send(&sink, objects).await?;
            }
            Ok(())
        });
        Self {
            chunks: Some(chunks),
            task,
        }
    }

    async fn assemble(
        &self,
        relations: Vec<ListingRow>,
        details: Details,
    ) -> Result<(), SourceError> {
        let Some(chunks) = &self.chunks else {
            return Ok(());
        };
        if chunks.send((relations, details)).await.is_err() {
            // The task stopped: its error says why.
            return Err(SourceError::Query(
                "the refresh was abandoned while reading".into(),
            ));
        }
        Ok(())
    }

    /// Waits until every chunk was sent on.
    async fn finish(mut self) -> Result<(), SourceError> {
        self.chunks = None;
        (&mut self.task)
            .await
            .map_err(|e| SourceError::Query(format!("assembling stopped: {e}")))?
    }
}

impl Drop for Assembler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The read set in chunks of `CHUNK`, the last `CHUNK` of them in quarters:
/// writing the last chunk is the one step nothing else overlaps, so it is kept
/// small.
fn chunks(relations: &[ListingRow]) -> impl Iterator<Item = &[ListingRow]> {
    let (bulk, tail) = relations.split_at(relations.len().saturating_sub(CHUNK));
    bulk.chunks(CHUNK).chain(tail.chunks(CHUNK.div_ceil(4)))
}

/// The relations to read in full, given what changed: the changed ones, the
/// new ones, the ones that failed last time, and those whose foreign keys point
/// at anything changed or gone.
fn read_set(
    listing: &[ListingRow],
    changed: &[Oid],
    stored: &CatalogState,
    cached: &HashMap<SchemaId, Vec<SchemaId>>,
) -> Vec<ListingRow> {
    let id = |r: &ListingRow| SchemaId::new(&r.schema_name, &r.name);
    let present: HashSet<SchemaId> = listing.iter().map(id).collect();
    let changed: HashSet<Oid> = changed.iter().copied().collect();
    let mut moved: HashSet<SchemaId> = listing
        .iter()
        .filter(|r| changed.contains(&r.oid))
        .map(id)
        .collect();
    moved.extend(cached.keys().filter(|c| !present.contains(*c)).cloned());
    let retry: HashSet<&str> = stored.retry.iter().map(String::as_str).collect();
    listing
        .iter()
        .filter(|r| {
            let this = id(r);
            changed.contains(&r.oid)
                || retry.contains(this.to_string().as_str())
                || cached
                    .get(&this)
                    .is_none_or(|targets| targets.iter().any(|t| moved.contains(t)))
        })
        .cloned()
        .collect()
}
