//! The health check that gates refreshes and answers `POST …/test`.

use crate::{error::ApiError, state::AppState};
use chrono::{DateTime, Utc};
use schemata_core::HealthStatus;
use schemata_sources::{Source, SourceError, connect};
use schemata_store::connections::{self, ConnectionRow};
use std::time::Instant;

pub(crate) struct HealthOutcome {
    pub healthy: bool,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
    /// `None` for an unreachable source: how long it took would tell a closed
    /// port from a silent one.
    pub latency_ms: Option<i64>,
}

/// Checks the source now and records the result on the connection. The whole
/// check, the wait for a slot included, fits in the health timeout; a check
/// that cannot get a slot in time is a 503, not a verdict on the source.
pub(crate) async fn check(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<HealthOutcome, ApiError> {
    let kind = row.kind;
    let config = connections::source_config(&state.pool, &state.secrets, row.id).await?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + state.health_timeout;
    // At most half the timeout waiting for a slot, so the source always gets the
    // other half: a late slot must not turn into a verdict of "unreachable".
    let Ok(permits) = tokio::time::timeout(
        state.health_timeout / 2,
        state.health_slots.acquire(row.organization_id),
    )
    .await
    else {
        return Err(ApiError::Unavailable(
            "Too many health checks are in flight for your organization; try again shortly.".into(),
        ));
    };
    let probe = async {
        connect(kind, &config, state.source_limits, &state.policy)?
            .health()
            .await
    };
    let result = tokio::time::timeout_at(deadline, probe)
        .await
        .unwrap_or(Err(SourceError::Unreachable));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    metrics::histogram!(
        "schemata_source_health_check_seconds",
        "kind" => kind.as_str(), "result" => if result.is_ok() { "healthy" } else { "unhealthy" }
    )
    .record(started.elapsed().as_secs_f64());
    let unreachable = matches!(result, Err(SourceError::Unreachable));
    drop(permits);
    if unreachable {
        // Every unreachable destination answers at the same moment: a refused
        // port and a silent one must look alike to the caller.
        tokio::time::sleep_until(deadline).await;
    }
    let message = result.err().map(|e| e.to_string());
    if let Some(reason) = &message {
        tracing::info!(connection.id = %row.id, reason = %reason, "source unhealthy");
    }
    connections::set_health(
        &state.pool,
        row.id,
        row.updated_at,
        message.is_none(),
        message.as_deref(),
    )
    .await?;
    Ok(HealthOutcome {
        healthy: message.is_none(),
        message,
        checked_at: Utc::now(),
        latency_ms: (!unreachable).then(|| i64::try_from(latency_ms).unwrap_or(i64::MAX)),
    })
}

/// Whether the connection's source was found healthy within `ttl` (by a
/// refresh's check or `POST …/test`). A new configuration clears the verdict,
/// so it always speaks of the credentials and host in use.
pub(crate) fn recently_healthy(row: &ConnectionRow, ttl: std::time::Duration) -> bool {
    let Ok(ttl) = chrono::Duration::from_std(ttl) else {
        return false;
    };
    !ttl.is_zero()
        && row.health_status == HealthStatus::Healthy
        && row
            .health_checked_at
            .is_some_and(|at| Utc::now() - at < ttl)
}
