//! Bounds on every conversation with a source: time for each round trip, and
//! how much one refresh may read, so no source can stall or flood a worker.

use crate::SourceError;
use schemata_core::source_config::SessionSettings;
use std::time::Duration;

/// Allowance over the server-side statement timeout before the client gives up:
/// a silent source frees its worker slot within `statement_timeout` + this.
pub const CLIENT_MARGIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` (PostgreSQL) / `max_execution_time` (MySQL).
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    /// Caps on one refresh: objects (tables, views), columns, bytes of catalog rows.
    pub max_objects: usize,
    pub max_columns: usize,
    pub max_bytes: usize,
    /// DynamoDB: items sampled per table to infer its attributes…
    pub dynamodb_sample_items: u32,
    /// …in at most this many `Scan` pages…
    pub dynamodb_sample_pages: u32,
    /// …and not again while the table's description is unchanged and its
    /// sample younger than this.
    pub dynamodb_resample_after: Duration,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            max_objects: 200_000,
            max_columns: 5_000_000,
            // Cumulative, not held at once (reads stream): room for a catalog
            // at the column cap, not for a source that never stops sending.
            max_bytes: 1 << 30,
            dynamodb_sample_items: 100,
            dynamodb_sample_pages: 10,
            dynamodb_resample_after: Duration::from_secs(3600),
        }
    }
}

impl SourceLimits {
    /// The client-side deadline on one round trip with the source.
    pub fn round_trip(&self) -> Duration {
        self.statement_timeout + CLIENT_MARGIN
    }

    /// A connection may ask for shorter timeouts than the service allows, never longer.
    pub fn narrowed_by(mut self, session: &SessionSettings) -> Self {
        if let Some(secs) = session.connect_timeout_secs {
            self.connect_timeout = self.connect_timeout.min(Duration::from_secs(secs.into()));
        }
        if let Some(ms) = session.statement_timeout_ms {
            self.statement_timeout = self.statement_timeout.min(Duration::from_millis(ms.into()));
        }
        if let Some(ms) = session.lock_timeout_ms {
            self.lock_timeout = self.lock_timeout.min(Duration::from_millis(ms.into()));
        }
        self
    }

    pub fn budget(&self) -> Budget {
        Budget {
            limits: *self,
            bytes: 0,
        }
    }
}

/// Runs one round trip with the source under a client-side deadline.
pub async fn within<T>(
    limit: Duration,
    round_trip: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(limit, round_trip)
        .await
        .unwrap_or(Err(SourceError::Timeout(limit)))
}

/// How the listing of objects names them in messages about caps.
pub const OBJECTS: &str = "tables and views";

/// What one refresh has read so far, against its caps.
#[derive(Debug)]
pub struct Budget {
    limits: SourceLimits,
    bytes: usize,
}

impl Budget {
    pub fn charge_bytes(&mut self, bytes: usize) -> Result<(), SourceError> {
        self.bytes += bytes;
        if self.bytes > self.limits.max_bytes {
            return Err(SourceError::TooLarge(format!(
                "the source's catalog is larger than {} MiB (SCHEMATA_SOURCE_MAX_BYTES); narrow schema_filter or table_allowlist",
                self.limits.max_bytes >> 20
            )));
        }
        Ok(())
    }

    /// The error for a query that returned more than `max` rows of `what`.
    pub fn too_many(&self, what: &str, max: usize) -> SourceError {
        let setting = if what == OBJECTS {
            "SCHEMATA_SOURCE_MAX_OBJECTS"
        } else {
            "SCHEMATA_SOURCE_MAX_COLUMNS"
        };
        SourceError::TooLarge(format!(
            "the source has more than {max} {what} in scope ({setting}); narrow schema_filter or table_allowlist"
        ))
    }

    pub fn max_objects(&self) -> usize {
        self.limits.max_objects
    }

    pub fn max_columns(&self) -> usize {
        self.limits.max_columns
    }
}
