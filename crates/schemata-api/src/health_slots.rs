//! How many source health checks (and samples) may run at once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

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
