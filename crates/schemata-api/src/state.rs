use crate::health_slots::HealthSlots;
use schemata_sources::{AccessPolicy, SourceLimits};
use schemata_store::{PgPool, SecretBox};
use std::time::Duration;

/// Shared by every request handler.
pub(crate) struct AppState {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub source_limits: SourceLimits,
    pub policy: AccessPolicy,
    pub health_timeout: Duration,
    /// How long a healthy verdict spares a refresh its live check.
    pub health_verdict_ttl: Duration,
    /// Bounds concurrent health checks, overall and per organization, so a burst
    /// of requests cannot flood a source nor one tenant delay the others.
    pub health_slots: HealthSlots,
    /// Refresh requests one API key may make a minute (0: no limit).
    pub refresh_requests_per_minute: u32,
    /// Keys recently found live.
    pub key_cache: crate::key_cache::KeyCache,
    /// Status documents, kept until they change.
    pub status_cache: std::sync::Arc<crate::status_cache::StatusCache>,
    /// Connections whose stale cache a read lately queued a refresh for.
    pub revalidations: crate::revalidate::Revalidations,
    /// The OpenAPI document as `/api/openapi.json` serves it, built once.
    pub openapi_json: actix_web::web::Bytes,
}
