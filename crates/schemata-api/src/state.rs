use schemata_sources::SourceLimits;
use schemata_store::{PgPool, SecretBox};
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// Shared by every request handler.
pub(crate) struct AppState {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub source_limits: SourceLimits,
    pub health_timeout: Duration,
    /// Bounds concurrent health checks so a burst of requests cannot flood a source.
    pub health_gate: Arc<Semaphore>,
}
