//! Sends due webhook deliveries: one lease per free slot, each attempt signed
//! and sent to addresses checked against the access policy, its outcome
//! recorded. Woken by NOTIFY when a run queues deliveries, and by a poll for
//! the retries that come due.

use super::{WebhookSettings, signature};
use chrono::Utc;
use schemata_core::WebhookUrl;
use schemata_sources::{AccessPolicy, SourceError, http};
use schemata_store::webhook_deliveries::{self, Attempt, LeasedDelivery, Target};
use schemata_store::{PgPool, SecretBox};
use sqlx::postgres::PgListener;
use std::{sync::Arc, time::Duration};
use tokio::{sync::Semaphore, task::JoinSet};

/// The channel the delivery queue's trigger notifies.
const CHANNEL: &str = "schemata_webhooks";

/// What a lease adds to the attempt's own timeout before another sender may
/// try the delivery again.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

pub struct WebhookSender {
    pool: PgPool,
    secrets: SecretBox,
    policy: AccessPolicy,
    settings: WebhookSettings,
}

impl WebhookSender {
    pub fn new(
        pool: PgPool,
        secrets: SecretBox,
        policy: AccessPolicy,
        settings: WebhookSettings,
    ) -> Self {
        Self {
            pool,
            secrets,
            policy,
            settings,
        }
    }

    /// Sends deliveries as they come due, for as long as the worker runs.
    /// Dropping this future (the worker stopping) cancels attempts in flight;
    /// their leases run out and they are sent again.
    pub async fn run(self) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.settings.concurrency.max(1) as usize));
        let mut attempts = JoinSet::new();
        let mut listener: Option<PgListener> = None;
        loop {
            while attempts.try_join_next().is_some() {}
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let lease = this.settings.timeout + LEASE_MARGIN;
            let leased = webhook_deliveries::lease_next(
                &this.pool,
                &this.secrets,
                this.settings.per_organization.max(1),
                lease,
            )
            .await;
            match leased {
                Ok(Some(delivery)) => {
                    let this = this.clone();
                    attempts.spawn(async move {
                        this.deliver(&delivery).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => drop(slot),
                Err(error) => {
                    drop(slot);
                    tracing::warn!(error = ?error, "could not lease a webhook delivery; will retry");
                }
            }
            if listener.is_none() {
                listener = this.listen().await;
            }
            let woken = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(drop),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                outcome = woken => if outcome.is_err() { listener = None },
                () = tokio::time::sleep(this.settings.poll_interval) => {}
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(CHANNEL).await.ok()?;
        Some(listener)
    }

    async fn deliver(&self, delivery: &LeasedDelivery) {
        let attempt = match &delivery.target {
            Ok(target) => self.attempt(delivery, target).await,
            // Nothing will open it later either: give up at once.
            Err(error) => Attempt::Failed {
                status_code: None,
                error: error.clone(),
                retry_in: None,
            },
        };
        let outcome = match &attempt {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Failed { retry_in: None, .. } => "failed",
            Attempt::Failed { .. } => "retry",
        };
        metrics::counter!("schemata_webhook_attempts_total", "outcome" => outcome).increment(1);
        tracing::info!(
            delivery.id = %delivery.id, webhook.id = %delivery.webhook_id,
            attempt = delivery.attempt, outcome, "webhook attempt"
        );
        if let Err(error) = webhook_deliveries::record(&self.pool, delivery.id, &attempt).await {
            // The lease runs out and the delivery is tried again: at least once.
            tracing::warn!(error = ?error, delivery.id = %delivery.id, "could not record a webhook attempt");
        }
    }

    /// One attempt, resolution included, within the attempt timeout.
    async fn attempt(&self, delivery: &LeasedDelivery, target: &Target) -> Attempt {
        let fail = |status_code: Option<u16>, error: String| Attempt::Failed {
            status_code,
            error,
            retry_in: self.retry_in(delivery),
        };
        let sending = async {
            let url = WebhookUrl::parse(&target.url)
                .map_err(|_| (None, "the URL is no longer valid".to_owned()))?;
            let client = self.client_for(&url).await.map_err(|e| (None, e))?;
            let signature =
                signature::header(&target.secret, Utc::now().timestamp(), &delivery.body);
            let answer = client
                .post(url.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Schemata-Signature", signature)
                .header("Schemata-Delivery", delivery.id.to_string())
                .header("Schemata-Event", &delivery.event)
                .body(delivery.body.clone())
                .send()
                .await
                .map_err(|e| (None, describe(&e)))?;
            let code = answer.status().as_u16();
            if answer.status().is_success() {
                Ok(code)
            } else {
                Err((Some(code), format!("the receiver answered {code}")))
            }
        };
        match tokio::time::timeout(self.settings.timeout, sending).await {
            Ok(Ok(status_code)) => Attempt::Delivered { status_code },
            Ok(Err((code, error))) => fail(code, error),
            Err(_) => fail(None, UNREACHABLE.into()),
        }
    }

    /// A client for `url` that connects only to the addresses the policy
    /// checked just now (see `schemata_sources::http`).
    async fn client_for(&self, url: &WebhookUrl) -> Result<reqwest::Client, String> {
        let builder = match http::pinned_client(&self.policy, url.as_url()).await {
            Ok(builder) => builder,
            Err(SourceError::Refused) => return Err("refused by the access policy".into()),
            Err(_) => return Err("the host does not resolve".into()),
        };
        builder
            .connect_timeout(self.settings.timeout)
            .pool_max_idle_per_host(0)
            .user_agent(concat!("Schemata-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "could not prepare the request".to_owned())
    }

    /// When to try again, or None once the retry window is over.
    fn retry_in(&self, delivery: &LeasedDelivery) -> Option<Duration> {
        let delay = self.settings.delay_after(delivery.attempt);
        let window_ends = delivery.created_at
            + chrono::Duration::from_std(self.settings.retry_for).unwrap_or(chrono::Duration::MAX);
        let next = Utc::now() + chrono::Duration::from_std(delay).ok()?;
        (next <= window_ends).then_some(delay)
    }
}

/// What the deliveries list says of any attempt that got no HTTP answer: a
/// closed port, a silent one and a server that does not speak HTTP read the
/// same, so that webhooks cannot map what listens where.
const UNREACHABLE: &str = "receiver unreachable";

/// What went wrong, for the deliveries list: never the URL (it may hold a
/// token), never what a server that is not an HTTP receiver sent.
fn describe(error: &reqwest::Error) -> String {
    tracing::info!(
        timeout = error.is_timeout(),
        connect = error.is_connect(),
        "webhook receiver unreachable"
    );
    UNREACHABLE.into()
}
