//! On SIGTERM a worker gives its running refreshes the shutdown grace period
//! to finish; whatever is still running then is handed back to the queue, at
//! the front, so that another worker takes it at once instead of after the
//! orphan check or a heartbeat timeout.

use tokio::sync::watch;

/// Resolves when this worker's grace period is over.
#[derive(Clone)]
pub struct HandBack(Option<watch::Receiver<bool>>);

impl HandBack {
    /// For refreshes run outside a worker (tests, tools): never due.
    pub fn never() -> Self {
        Self(None)
    }

    /// A hand-back that is due once `sender` sends `true`.
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self(Some(receiver)))
    }

    pub async fn due(&self) {
        if let Some(receiver) = &self.0 {
            let mut receiver = receiver.clone();
            if receiver.wait_for(|due| *due).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}
