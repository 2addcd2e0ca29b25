//! Writing a refresh: as the source sends the objects it read, each is compared
//! with the cache by content hash and only the changed ones are written, inside
//! one transaction that also removes what is gone and closes the run. Readers
//! see the old cache until that transaction commits, then the new one.

use crate::jobs::{
    cached_index::{CachedIndex, Index},
    refresh::{RefreshContext, RefreshOutcome},
    summary::summarize,
};
use anyhow::Context;
use schemata_core::{
    ChangeSet, ObjectKind, RunStatus, SchemaId, SchemaObject, StoredForm, schema_version,
};
use schemata_sources::Introspection;
use schemata_store::{
    connections,
    runs::{self, RunRow},
    snapshots,
};
use sqlx::{Postgres, Transaction};
use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};
use tokio::sync::mpsc::Receiver;

/// Accumulates one run's writes in its transaction.
pub(crate) struct Writer<'a> {
    run: &'a RunRow,
    /// The cache as it was, awaited when the first batch arrives (it loads
    /// meanwhile).
    index: CachedIndex,
    cached: Option<Index>,
    tx: Transaction<'static, Postgres>,
    /// The connection's scope generation the source was read under.
    generation: i64,
    /// The objects read in full: kind and field count, for the summary.
    read: HashMap<SchemaId, (ObjectKind, usize)>,
    /// New content hashes of the objects written.
    written: HashMap<SchemaId, String>,
    changes: ChangeSet,
}

impl<'a> Writer<'a> {
    pub async fn begin(
        ctx: &RefreshContext,
        run: &'a RunRow,
        index: CachedIndex,
        generation: i64,
    ) -> anyhow::Result<Self> {
        let tx = ctx
            .pool
            .begin()
            .await
            .context("Failed to begin the snapshot transaction")?;
        Ok(Self {
            run,
            index,
            cached: None,
            tx,
            generation,
            read: HashMap::new(),
            written: HashMap::new(),
            changes: ChangeSet::default(),
        })
    }

    /// Takes every batch the source sends until it is done. Batches are
    /// encoded (serialized and hashed) on a task of their own while the
    /// previous one is being written: on a large first refresh, encoding and
    /// writing one after the other made the writer the slowest stage.
    pub async fn consume(
        mut self,
        ctx: &RefreshContext,
        batches: Receiver<Vec<SchemaObject>>,
    ) -> anyhow::Result<Self> {
        let mut encoding = tokio::task::JoinSet::new();
        let mut encoded = encode_in_background(&mut encoding, batches);
        while let Some(batch) = encoded.recv().await {
            self.take(batch).await?;
            let done = i32::try_from(self.read.len()).unwrap_or(i32::MAX);
            runs::set_progress(&ctx.pool, self.run.id, done, None)
                .await
                .context("Failed to record progress")?;
        }
        Ok(self)
    }

    /// The cache's index, once loaded.
    async fn cached(&mut self) -> anyhow::Result<Index> {
        if let Some(cached) = &self.cached {
            return Ok(cached.clone());
        }
        let cached = self.index.get().await?;
        self.cached = Some(cached.clone());
        Ok(cached)
    }

    async fn take(&mut self, batch: Vec<(SchemaObject, StoredForm)>) -> anyhow::Result<()> {
        let connection_id = self.run.connection_id;
        let cached = self.cached().await?;
        let mut changed: Vec<(SchemaObject, StoredForm)> = Vec::new();
        for (object, stored) in batch {
            self.read
                .insert(object.id(), (object.kind, object.fields.len()));
            match cached.get(&object.id()) {
                Some(entry) if entry.content_hash == stored.content_hash => {}
                _ => changed.push((object, stored)),
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let previous_ids: Vec<SchemaId> = changed
            .iter()
            .map(|(o, _)| o.id())
            .filter(|id| cached.contains_key(id))
            .collect();
        let previous: HashMap<SchemaId, SchemaObject> =
            snapshots::load(&mut self.tx, connection_id, &previous_ids)
                .await
                .context("Failed to read the cached objects")?
                .into_iter()
                .map(|o| (o.id(), o))
                .collect();
        for (object, stored) in &changed {
            match previous.get(&object.id()) {
                Some(old) => self.changes.compare(old, object),
                None => self.changes.added(object.id().to_string()),
            }
            self.written
                .insert(object.id(), stored.content_hash.clone());
        }
        snapshots::remove(&mut self.tx, connection_id, &previous_ids)
            .await
            .context("Failed to remove changed objects")?;
        let rows: Vec<(&SchemaObject, &StoredForm)> = changed.iter().map(|(o, s)| (o, s)).collect();
        snapshots::insert(&mut self.tx, connection_id, &rows)
            .await
            .context("Failed to write changed objects")?;
        Ok(())
    }

    /// Removes what is gone, records the version and closes the run; commits.
    /// A read where every object failed is no refresh at all: it comes back
    /// as the run's failure, with nothing written.
    pub async fn finish(
        mut self,
        introspection: Introspection,
        started: Instant,
    ) -> anyhow::Result<Finish> {
        let run = self.run;
        let options = run.options()?;
        // Locked first (as every writer of runs does): a change of the
        // connection's configuration or scope commits before or after this
        // transaction, never inside it.
        if connections::locked_generation(&mut self.tx, run.connection_id).await?
            != Some(self.generation)
        {
            self.tx.rollback().await.context("Failed to roll back")?;
            return Ok(Finish::Superseded);
        }
        let cached = self.cached().await?;
        // Unchanged is no listing: what the cache keeps is as it was.
        let listed = !options.is_partial() && matches!(introspection, Introspection::Read(_));
        let (present, failures, catalog_state) = match introspection {
            Introspection::Unchanged => (cached.keys().cloned().collect(), vec![], None),
            Introspection::Read(listing) => {
                (listing.present, listing.failures, listing.catalog_state)
            }
        };
        let present: HashSet<SchemaId> = present.into_iter().collect();
        let failed: HashSet<SchemaId> = failures
            .iter()
            .filter_map(|f| SchemaId::parse(&f.object).ok())
            .collect();
        if !present.is_empty() && present.iter().all(|id| failed.contains(id)) {
            let first = failures.iter().min_by(|a, b| a.object.cmp(&b.object));
            return Ok(Finish::Failed(format!(
                "Every object failed ({} of them); the first: {}",
                failures.len(),
                first.map_or(String::new(), |f| format!("{} ({})", f.object, f.error))
            )));
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
        snapshots::remove(&mut self.tx, run.connection_id, &removed)
            .await
            .context("Failed to remove objects gone from the source")?;
        for id in &removed {
            self.changes.removed(id.to_string());
        }
        if listed {
            // A soft refresh that kept what the listing no longer has leaves
            // the next hard refresh something to remove, whatever the
            // catalog state will say.
            let keeps_unlisted =
                !options.hard_refresh && cached.keys().any(|id| !present.contains(id));
            snapshots::set_keeps_unlisted(&mut self.tx, run.connection_id, keeps_unlisted)
                .await
                .context("Failed to record what the cache keeps")?;
        }
        // A first refresh that found nothing still gives the cache a version
        // (of the empty schema), as any refreshed cache has.
        if self.written.is_empty() && removed.is_empty() && !cached.is_empty() {
            // The cache is as it was, and so is its version: only what the
            // source learned about its catalog, if anything, is new.
            if let Some(state) = &catalog_state {
                snapshots::set_catalog_state(&mut self.tx, run.connection_id, state)
                    .await
                    .context("Failed to record the catalog state")?;
            }
        } else {
            let gone: HashSet<&SchemaId> = removed.iter().collect();
            let version = schema_version(
                cached
                    .iter()
                    .filter(|(id, _)| !gone.contains(id))
                    .map(|(id, entry)| {
                        let hash = self.written.get(id).unwrap_or(&entry.content_hash);
                        (id.clone(), hash.clone())
                    })
                    .chain(
                        self.written
                            .iter()
                            .filter(|(id, _)| !cached.contains_key(*id))
                            .map(|(id, hash)| (id.clone(), hash.clone())),
                    ),
            );
            snapshots::set_version(
                &mut self.tx,
                run.connection_id,
                &version,
                catalog_state.as_ref(),
            )
            .await
            .context("Failed to record the cache's version")?;
        }
        let in_scope = present
            .iter()
            .filter(|id| !failed.contains(*id))
            .filter_map(|id| {
                let (kind, fields) = self.read.get(id).copied().or_else(|| {
                    let entry = cached.get(id)?;
                    Some((entry.kind, usize::try_from(entry.field_count).unwrap_or(0)))
                })?;
                Some((id.clone(), kind, fields))
            });
        let status = if failures.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::Partial
        };
        let mut result = summarize(run, in_scope, failures, removed.len(), started);
        result.objects_read = self.read.len();
        result.objects_written = self.written.len() + removed.len();
        result.changed = result.objects_written > 0;
        let changes = std::mem::take(&mut self.changes).finish();
        let closed = runs::finish(
            &mut self.tx,
            run,
            status,
            &serde_json::to_value(&result)?,
            None,
            Some(&serde_json::to_value(&changes)?),
        )
        .await
        .context("Failed to close the refresh run")?;
        if !closed {
            self.tx.rollback().await.context("Failed to roll back")?;
            return Ok(Finish::Done(RefreshOutcome::Skipped));
        }
        self.tx
            .commit()
            .await
            .context("Failed to commit the snapshot")?;
        metrics::counter!("schemata_refresh_objects_read_total").increment(self.read.len() as u64);
        metrics::counter!("schemata_refresh_objects_written_total")
            .increment((self.written.len() + removed.len()) as u64);
        if changes.breaking {
            metrics::counter!("schemata_refresh_breaking_changes_total").increment(1);
        }
        tracing::info!(
            job.id = %run.id, connection.id = %run.connection_id, objects.read = self.read.len(),
            objects.written = self.written.len(), objects.removed = removed.len(),
            changes.breaking = changes.breaking, duration_ms = started.elapsed().as_millis() as u64,
            "refresh complete"
        );
        Ok(Finish::Done(RefreshOutcome::Refreshed(status)))
    }
}

/// How writing a refresh ended.
pub(crate) enum Finish {
    Done(RefreshOutcome),
    /// Nothing was written; the run is to be closed as failed with this message.
    Failed(String),
    /// Nothing was written: the connection's configuration or scope changed
    /// since the source was read.
    Superseded,
}

/// Encodes each batch the source sends into its stored form, on a task the
/// set aborts if the write stops; a closed channel ends it either way.
fn encode_in_background(
    tasks: &mut tokio::task::JoinSet<()>,
    mut batches: Receiver<Vec<SchemaObject>>,
) -> Receiver<Vec<(SchemaObject, StoredForm)>> {
    let (encoded, receiver) = tokio::sync::mpsc::channel(1);
    tasks.spawn(async move {
        while let Some(batch) = batches.recv().await {
            // CPU work off the async threads, which keep the sockets drained.
            let encoding = tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|object| {
                        let stored = StoredForm::of(&object);
                        (object, stored)
                    })
                    .collect::<Vec<_>>()
            });
            let Ok(batch) = encoding.await else {
                return;
            };
            if encoded.send(batch).await.is_err() {
                return;
            }
        }
    });
    receiver
}
