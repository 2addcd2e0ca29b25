//! Writing a refresh: as the source sends the objects it read, the changed
//! ones (see `plan::changed`) are written inside one transaction, which at
//! the end carries out the run's plan (`plan::ending`) and closes the run.
//! Readers see the old cache until that transaction commits, then the new one.

use crate::jobs::{
    cached_index::{CachedIndex, Index},
    plan::{self, Ending, Written},
    summary::summarize,
};
use anyhow::Context;
use schemata_core::{ChangeSet, RunStatus, SchemaId, SchemaObject, StoredForm};
use schemata_sources::Introspection;
use schemata_store::{
    PgPool, connections,
    runs::{self, Closing, RunRow},
    snapshots,
};
use sqlx::{Postgres, Transaction};
use std::{collections::HashMap, time::Instant};
use tokio::sync::mpsc::Receiver;

/// Accumulates one run's writes in its transaction.
pub(crate) struct Writer<'a> {
    run: &'a RunRow,
    pool: PgPool,
    /// The cache as it was, awaited when the first batch arrives (it loads
    /// meanwhile).
    index: CachedIndex,
    cached: Option<Index>,
    tx: Transaction<'static, Postgres>,
    /// The connection's scope generation the source was read under.
    generation: i64,
    written: Written,
    changes: ChangeSet,
}

/// How writing a refresh ended.
pub(crate) enum Applied {
    /// The cache is written and the run closed with this status.
    Closed(RunStatus),
    /// The run had already ended (cancelled, or closed by another delivery):
    /// nothing written.
    RunEnded,
    /// Nothing written: the connection's configuration or scope changed since
    /// the source was read.
    Superseded,
    /// Nothing written: every object in scope failed; the run is to be closed
    /// as failed with this message.
    EveryObjectFailed(String),
}

impl<'a> Writer<'a> {
    pub async fn begin(
        pool: &PgPool,
        run: &'a RunRow,
        index: CachedIndex,
        generation: i64,
    ) -> anyhow::Result<Self> {
        let tx = pool
            .begin()
            .await
            .context("Failed to begin the snapshot transaction")?;
        Ok(Self {
            run,
            pool: pool.clone(),
            index,
            cached: None,
            tx,
            generation,
            written: Written::default(),
            changes: ChangeSet::default(),
        })
    }

    /// Takes every batch the source sends until it is done. Batches are
    /// encoded (serialized and hashed) on a task of their own while the
    /// previous one is being written: on a large first refresh, encoding and
    /// writing one after the other made the writer the slowest stage.
    pub async fn consume(mut self, batches: Receiver<Vec<SchemaObject>>) -> anyhow::Result<Self> {
        let mut encoding = tokio::task::JoinSet::new();
        let mut encoded = encode_in_background(&mut encoding, batches);
        while let Some(batch) = encoded.recv().await {
            self.take(batch).await?;
            let done = i32::try_from(self.written.read.len()).unwrap_or(i32::MAX);
            runs::set_progress(&self.pool, self.run.id, done, None)
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
        for (object, _) in &batch {
            self.written
                .read
                .insert(object.id(), (object.kind, object.fields.len()));
        }
        let changed = plan::changed(&cached, batch);
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
                .hashes
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

    /// Carries out the run's plan (removals, version, what the cache keeps)
    /// and closes the run; commits.
    pub async fn finish(
        mut self,
        introspection: Introspection,
        started: Instant,
    ) -> anyhow::Result<Applied> {
        let run = self.run;
        // Locked first (as every writer of runs does): a change of the
        // connection's configuration or scope commits before or after this
        // transaction, never inside it.
        if connections::locked_generation(&mut self.tx, run.connection_id).await?
            != Some(self.generation)
        {
            self.tx.rollback().await.context("Failed to roll back")?;
            return Ok(Applied::Superseded);
        }
        let cached = self.cached().await?;
        let closing = match plan::ending(&cached, introspection, &run.options()?, &self.written) {
            Ending::EveryObjectFailed(message) => {
                self.tx.rollback().await.context("Failed to roll back")?;
                return Ok(Applied::EveryObjectFailed(message));
            }
            Ending::Close(closing) => closing,
        };
        let id = run.connection_id;
        snapshots::remove(&mut self.tx, id, &closing.removed)
            .await
            .context("Failed to remove objects gone from the source")?;
        for removed in &closing.removed {
            self.changes.removed(removed.to_string());
        }
        if let Some(keeps_unlisted) = closing.keeps_unlisted {
            snapshots::set_keeps_unlisted(&mut self.tx, id, keeps_unlisted)
                .await
                .context("Failed to record what the cache keeps")?;
        }
        match (&closing.version, &closing.catalog_state) {
            (Some(version), state) => {
                snapshots::set_version(&mut self.tx, id, version, state.as_ref())
                    .await
                    .context("Failed to record the cache's version")?
            }
            // The cache is as it was, and so is its version: only what the
            // source learned about its catalog, if anything, is new.
            (None, Some(state)) => snapshots::set_catalog_state(&mut self.tx, id, state)
                .await
                .context("Failed to record the catalog state")?,
            (None, None) => {}
        }
        let removed = closing.removed.len();
        let mut result = summarize(
            run,
            closing.in_scope.into_iter(),
            closing.failures,
            removed,
            started,
        );
        result.objects_read = self.written.read.len();
        result.objects_written = self.written.hashes.len() + removed;
        result.changed = result.objects_written > 0;
        let changes = std::mem::take(&mut self.changes).finish();
        let closed = runs::finish(
            &mut self.tx,
            run,
            Closing {
                status: closing.status,
                result: &result,
                error: None,
                changes: Some(&changes),
                source_failed: false,
            },
        )
        .await
        .context("Failed to close the refresh run")?;
        if !closed {
            self.tx.rollback().await.context("Failed to roll back")?;
            return Ok(Applied::RunEnded);
        }
        self.tx
            .commit()
            .await
            .context("Failed to commit the snapshot")?;
        metrics::counter!("schemata_refresh_objects_read_total")
            .increment(self.written.read.len() as u64);
        metrics::counter!("schemata_refresh_objects_written_total")
            .increment(result.objects_written as u64);
        if changes.breaking {
            metrics::counter!("schemata_refresh_breaking_changes_total").increment(1);
        }
        tracing::info!(
            job.id = %run.id, connection.id = %run.connection_id, objects.read = self.written.read.len(),
            objects.written = self.written.hashes.len(), objects.removed = removed,
            changes.breaking = changes.breaking, duration_ms = started.elapsed().as_millis() as u64,
            "refresh complete"
        );
        Ok(Applied::Closed(closing.status))
    }
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
