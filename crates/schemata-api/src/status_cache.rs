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
//! after a few seconds, and this process forgets everything after each of its
//! own writes, so a client reads its own writes at once. Another replica's
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
    /// Bumped by every forget: a read that started before a forget must not
    /// store what it read (it may predate the change).
    epoch: AtomicU64,
    entries: Mutex<HashMap<Uuid, (Arc<StatusRow>, Instant)>>,
}

impl StatusCache {
    /// A cache that keeps entries for `ttl` (zero: keeps nothing).
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            ttl,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
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
        let entries = self.entries.lock().ok()?;
        let (row, at) = entries.get(&id)?;
        (at.elapsed() < self.ttl).then(|| row.clone())
    }

    /// Keeps `row`, read by a read that started at `epoch`, unless something
    /// was forgotten since.
    pub fn put(&self, epoch: u64, row: Arc<StatusRow>) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Checked under the lock that forgets take too.
            if self.epoch.load(Ordering::Acquire) != epoch {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(row.connection.id, (row, Instant::now()));
        }
    }

    /// Forgets connection `id`.
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            entries.remove(&id);
        }
    }

    /// Forgets everything (after this process's own writes, and whenever
    /// notifications may have been missed).
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            entries.clear();
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
