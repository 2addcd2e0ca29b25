//! API keys verified without a database round trip on every request: a key
//! found live is trusted for a few seconds. A revoked key stops working when
//! its entry expires (`SCHEMATA_API_KEY_CACHE_MS`, 5 s by default); unknown
//! keys are never cached.

use schemata_store::api_keys::ApiKey;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept at most; past it the cache starts over (a flood of distinct
/// live keys costs a round trip each, never unbounded memory).
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct KeyCache {
    ttl: Duration,
    /// By SHA-256 of the secret: the secrets themselves are not kept.
    entries: Mutex<HashMap<[u8; 32], (ApiKey, Instant)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn slot(secret: &str) -> [u8; 32] {
        Sha256::digest(secret.as_bytes()).into()
    }

    /// The live key for `secret`, if seen within the TTL.
    pub fn get(&self, secret: &str) -> Option<ApiKey> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (key, at) = entries.get(&Self::slot(secret))?;
        (at.elapsed() < self.ttl).then(|| key.clone())
    }

    pub fn put(&self, secret: &str, key: &ApiKey) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(Self::slot(secret), (key.clone(), Instant::now()));
        }
    }
}
