//! The health check that gates refreshes and answers `POST …/test`.

use crate::{error::ApiError, state::AppState};
use chrono::{DateTime, Utc};
use schemata_sources::{Source, SourceError, connect};
use schemata_store::connections::{self, ConnectionRow};
use std::time::Instant;

pub(crate) struct HealthOutcome {
    pub healthy: bool,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
    pub latency_ms: u64,
}

/// Checks the source now, bounded by the health timeout, and records the result
/// on the connection.
pub(crate) async fn check(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<HealthOutcome, ApiError> {
    let kind = row.source_kind()?;
    let config = connections::source_config(&state.pool, &state.secrets, row.id).await?;
    let _permit = state
        .health_gate
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let started = Instant::now();
    let probe = async {
        let url = config
            .connect_url(kind)
            .map_err(|e| SourceError::Configuration(e.to_string()))?;
        connect(kind, &url, state.source_limits)?.health().await
    };
    let result = tokio::time::timeout(state.health_timeout, probe)
        .await
        .unwrap_or(Err(SourceError::ConnectTimeout(state.health_timeout)));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let message = result.err().map(|e| e.to_string());
    connections::set_health(&state.pool, row.id, message.is_none(), message.as_deref()).await?;
    Ok(HealthOutcome {
        healthy: message.is_none(),
        message,
        checked_at: Utc::now(),
        latency_ms,
    })
}
