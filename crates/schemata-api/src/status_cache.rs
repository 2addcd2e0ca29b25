//! Status documents kept in memory between changes. Clients poll the status
//! after every 202, many times per change; a read from memory costs a
//! fraction of a query. The database says when to forget: every write to a
//! connection, its runs or its overrides notifies `schemata_status` at commit
//! (see the migration `status_notifications`), and a listener of this process
//! drops that connection's entry.
//!
//! Nothing is served from memory unless the listener is connected: while it
//! is not (at start, after a lost connection), every read goes to the
//! database, and everything kept is dropped when it reconnects, since
//! notifications sent meanwhile are lost. An entry also expires on its own
//! after a few seconds, and this process forgets a connection's entry after
//! each of its own writes to it, so a client reads its own writes at once
//! while every other tenant's entries stay (`schemata_status_cache_reads_total`
//! counts hits and misses). Another replica's
//! write is seen as soon as its notification arrives (well under a millisecond
//! after the commit that answered that replica's client, on one network).

use schemata_store::{
    StoreError,
    status::{StatusChanges, StatusRow},
};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use uuid::Uuid;

/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;
/// Pause before listening again after the listener lost its connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

pub(crate) struct StatusCache {
    ttl: Duration,
    /// The listener is connected: notifications are arriving.
    live: AtomicBool,
    /// Bumped by every forget: a read that started before a forget of its
    /// connection must not store what it read (it may predate the change).
    epoch: AtomicU64,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    entries: HashMap<Uuid, (Arc<StatusRow>, Instant)>,
    /// The epoch of each connection's last forget: a read of one connection
    /// is not thrown away because another one changed.
    forgotten: HashMap<Uuid, u64>,
    /// The epoch of the last forget of everything.
    all_forgotten: u64,
}

impl StatusCache {
    /// A cache that keeps entries for `ttl` (zero: keeps nothing).
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            ttl,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            kept: Mutex::new(Kept::default()),
        })
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.live.load(Ordering::Acquire)
    }

    /// What to quote to [`StatusCache::put`] for a read starting now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Connection `id` as last read, if still current.
    pub fn get(&self, id: Uuid) -> Option<Arc<StatusRow>> {
        if !self.enabled() {
            return None;
        }
        let kept = {
            let kept = self.kept.lock().ok()?;
            kept.entries
                .get(&id)
                .filter(|(_, at)| at.elapsed() < self.ttl)
                .map(|(row, _)| row.clone())
        };
        let outcome = if kept.is_some() { "hit" } else { "miss" };
        metrics::counter!("schemata_status_cache_reads_total", "outcome" => outcome).increment(1);
        kept
    }

    /// Keeps `row`, read by a read that started at `epoch`, unless its
    /// connection (or everything) was forgotten since.
    pub fn put(&self, epoch: u64, row: Arc<StatusRow>) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            // Checked under the lock that forgets take too.
            let id = row.connection.id;
            if kept.all_forgotten > epoch || kept.forgotten.get(&id).is_some_and(|&e| e > epoch) {
                return;
            }
            if kept.entries.len() >= MAX_ENTRIES {
                kept.entries.clear();
            }
            kept.entries.insert(id, (row, Instant::now()));
        }
    }

    /// Forgets connection `id`.
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut kept) = self.kept.lock() {
            let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            kept.entries.remove(&id);
            kept.forgotten.insert(id, epoch);
            if kept.forgotten.len() >= MAX_ENTRIES {
                // Starting over: whatever a read in flight saw is suspect.
                kept.forgotten.clear();
                kept.entries.clear();
                kept.all_forgotten = epoch;
            }
        }
    }

    /// Forgets everything (whenever notifications may have been missed, and
    /// after a write this process cannot tie to one connection).
    pub fn forget_all(&self) {
        if let Ok(mut kept) = self.kept.lock() {
            let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            kept.entries.clear();
            kept.forgotten.clear();
            kept.all_forgotten = epoch;
        }
    }

    fn set_live(&self, live: bool) {
        self.forget_all();
        self.live.store(live, Ordering::Release);
    }

    /// Listens for changes for as long as the process runs, reconnecting
    /// after a lost connection.
    pub fn listen(self: &Arc<Self>, database_url: String) {
        if self.ttl.is_zero() {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = cache.listen_once(&database_url).await {
                    tracing::warn!(error = %error, "status notifications lost; reading statuses from the database");
                }
                cache.set_live(false);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        });
    }

    async fn listen_once(&self, database_url: &str) -> Result<(), StoreError> {
        let mut changes = StatusChanges::listen(database_url).await?;
        self.set_live(true);
        while let Some(changed) = changes.next().await? {
            match changed {
                Some(id) => self.forget(id),
                None => self.forget_all(),
            }
        }
        Ok(())
    }
}
