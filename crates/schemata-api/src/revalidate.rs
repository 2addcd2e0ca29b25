//! Stale while revalidate (`refresh_on_read`): a read of a stale cache
//! answers at once from that cache and queues one refresh, joined to any
//! refresh already queued or running, never one per read.

use crate::state::AppState;
use chrono::Utc;
use schemata_core::{CacheStatus, ConnectionStatus, RefreshOptions, Trigger};
use schemata_store::{connections::ConnectionRow, runs};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// How long after queuing (or joining) a refresh for a connection this
/// process leaves further reads of it alone: a burst of reads costs one
/// admission, not one each.
const QUIET: Duration = Duration::from_secs(5);

/// The connections this process revalidated lately.
#[derive(Default)]
pub(crate) struct Revalidations(Mutex<HashMap<Uuid, Instant>>);

impl Revalidations {
    /// True when `id` was not revalidated in the last [`QUIET`]; marks it.
    fn take(&self, id: Uuid) -> bool {
        let Ok(mut recent) = self.0.lock() else {
            return false;
        };
        let now = Instant::now();
        if recent.len() > 10_000 {
            recent.retain(|_, at| now.duration_since(*at) < QUIET);
        }
        match recent.get(&id) {
            Some(at) if now.duration_since(*at) < QUIET => false,
            _ => {
                recent.insert(id, now);
                true
            }
        }
    }
}

/// Whether a read of `row`'s cache should queue a refresh: the connection
/// asks for it, is active, and its cache is stale (past its TTL, or read
/// under another configuration). A cache that is `refreshing` already has
/// its refresh; one in `error` waits for the scheduler's backoff.
fn wanted(row: &ConnectionRow) -> bool {
    row.refresh_on_read
        && row.status == ConnectionStatus::Active
        && row.cache_status_at(Utc::now()) == CacheStatus::Stale
}

/// Queues the refresh a read of a stale cache asks for, when it does; the
/// read answers whatever happens here (a failure is logged). True when this
/// read queued (or joined) a refresh.
pub(crate) async fn on_read(state: &AppState, row: &ConnectionRow) -> bool {
    if !wanted(row) || !state.revalidations.take(row.id) {
        return false;
    }
    let queued = match queue(state, row).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(connection.id = %row.id, error = ?error, "could not queue the refresh of a stale cache");
            false
        }
    };
    state.status_cache.forget(row.id);
    queued
}

async fn queue(state: &AppState, row: &ConnectionRow) -> Result<(), schemata_store::StoreError> {
    let mut tx = state.pool.begin().await?;
    let outcome = runs::admit(
        &mut tx,
        row.organization_id,
        row.id,
        &RefreshOptions::default(),
        None,
        // Not a client's request: no health check holds the read up, and a
        // failure counts toward the scheduler's backoff.
        Trigger::Schedule,
        true,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(connection.id = %row.id, ?outcome, "stale cache read: refresh queued");
    Ok(())
}
