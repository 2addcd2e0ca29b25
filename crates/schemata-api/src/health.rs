//! The health check that gates refreshes and answers `POST …/test`.

use crate::{error::ApiError, state::AppState};
use chrono::{DateTime, Utc};
use schemata_sources::{Source, SourceError, connect};
use schemata_store::connections::{self, ConnectionRow};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

pub(crate) struct HealthOutcome {
    pub healthy: bool,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
    /// `None` for an unreachable source: how long it took would tell a closed
    /// port from a silent one.
    pub latency_ms: Option<u64>,
}

/// Checks the source now and records the result on the connection. The whole
/// check, the wait for a slot included, fits in the health timeout; a check
/// that cannot get a slot in time is a 503, not a verdict on the source.
pub(crate) async fn check(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<HealthOutcome, ApiError> {
    let kind = row.source_kind()?;
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
        latency_ms: (!unreachable).then_some(latency_ms),
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
        && row.health_status == "healthy"
        && row
            .health_checked_at
            .is_some_and(|at| Utc::now() - at < ttl)
}

/// Health-check slots: a process-wide cap, and a smaller cap per organization so
/// one tenant's slow sources cannot hold every slot.
pub(crate) struct HealthSlots {
    total: Arc<Semaphore>,
    per_organization: usize,
    organizations: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl HealthSlots {
    pub fn new(total: usize, per_organization: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total.max(1))),
            per_organization: per_organization.clamp(1, total.max(1)),
            organizations: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the organization's share first, then for a slot of the process.
    pub async fn acquire(&self, organization_id: Uuid) -> [OwnedSemaphorePermit; 2] {
        let share = self.share_of(organization_id);
        let own = share
            .acquire_owned()
            .await
            .expect("health-check semaphores are never closed");
        let global = self
            .total
            .clone()
            .acquire_owned()
            .await
            .expect("health-check semaphores are never closed");
        [own, global]
    }

    fn share_of(&self, organization_id: Uuid) -> Arc<Semaphore> {
        let mut organizations = self
            .organizations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if organizations.len() > 10_000 {
            // Forget idle organizations; their semaphores hold no permits out.
            organizations.retain(|_, share| Arc::strong_count(share) > 1);
        }
        organizations
            .entry(organization_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_organization)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_organization_cannot_take_every_slot() {
        let slots = HealthSlots::new(4, 2);
        let noisy = Uuid::now_v7();
        let _first = slots.acquire(noisy).await;
        let _second = slots.acquire(noisy).await;
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire(noisy)).await;
        assert!(
            third.is_err(),
            "the noisy organization waits for its own share"
        );
        let quiet =
            tokio::time::timeout(Duration::from_millis(50), slots.acquire(Uuid::now_v7())).await;
        assert!(quiet.is_ok(), "another organization still gets a slot");
    }
}
