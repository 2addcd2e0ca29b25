//! Sends due webhook deliveries: leases a batch, posts each one signed, and
//! records the outcome. Woken by NOTIFY when a run queues deliveries, and by a
//! poll for the retries that come due.

use super::{WebhookSettings, resolver::PolicyResolver, signature};
use chrono::Utc;
use schemata_sources::{AccessPolicy, SourceError};
use schemata_store::webhook_deliveries::{self, Attempt, LeasedDelivery};
use schemata_store::{PgPool, SecretBox};
use sqlx::postgres::PgListener;
use std::{sync::Arc, time::Duration};

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
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(
        pool: PgPool,
        secrets: SecretBox,
        policy: AccessPolicy,
        settings: WebhookSettings,
    ) -> anyhow::Result<Self> {
        // reqwest is built without a crypto provider; ring is the one sqlx
        // already links. Installing twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect would be a second destination the policy never saw.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
            .user_agent(concat!("Schemata-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            pool,
            secrets,
            policy,
            settings,
            client,
        })
    }

    /// Sends deliveries as they come due, for as long as the worker runs.
    pub async fn run(self) {
        let mut listener: Option<PgListener> = None;
        loop {
            let sent = match self.send_due().await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(error = ?error, "could not lease webhook deliveries; will retry");
                    0
                }
            };
            if sent > 0 {
                continue;
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
            let woken = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(drop),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                outcome = woken => if outcome.is_err() { listener = None },
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(CHANNEL).await.ok()?;
        Some(listener)
    }

    /// One batch: how many deliveries were attempted.
    async fn send_due(&self) -> anyhow::Result<usize> {
        let lease = self.settings.timeout + LEASE_MARGIN;
        let due = webhook_deliveries::lease_due(
            &self.pool,
            &self.secrets,
            self.settings.concurrency.max(1),
            lease,
        )
        .await?;
        let attempts = due.iter().map(|delivery| async move {
            let attempt = self.attempt(delivery).await;
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
        });
        futures::future::join_all(attempts).await;
        Ok(due.len())
    }

    async fn attempt(&self, delivery: &LeasedDelivery) -> Attempt {
        let fail = |status_code: Option<u16>, error: String| Attempt::Failed {
            status_code,
            error,
            retry_in: self.retry_in(delivery),
        };
        if let Err(refused) = self.check_destination(&delivery.url).await {
            return fail(None, refused);
        }
        let signature = signature::header(&delivery.secret, Utc::now().timestamp(), &delivery.body);
        let sent = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Schemata-Signature", signature)
            .header("Schemata-Delivery", delivery.id.to_string())
            .header("Schemata-Event", &delivery.event)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => Attempt::Delivered {
                status_code: answer.status().as_u16(),
            },
            Ok(answer) => {
                let code = answer.status().as_u16();
                fail(Some(code), format!("the receiver answered {code}"))
            }
            Err(error) => fail(None, describe(&error, self.settings.timeout)),
        }
    }

    /// The URL's host and port against the policy, with the real port (the
    /// resolver checks every address again at connect time).
    async fn check_destination(&self, raw: &str) -> Result<(), String> {
        let url = url::Url::parse(raw).map_err(|_| "the URL is no longer valid".to_owned())?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("the URL names no host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(443);
        match self.policy.allowed_addresses(&host, port).await {
            Ok(_) => Ok(()),
            Err(SourceError::Refused) => Err("refused by the access policy".into()),
            Err(_) => Err("the host does not resolve".into()),
        }
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

/// What went wrong, for the deliveries list: never the URL (it may hold a token).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<SourceError>().is_some() {
            return "refused by the access policy".into();
        }
        source = cause.source();
    }
    if error.is_connect() {
        "could not connect to the receiver".into()
    } else {
        "the request failed before an answer came".into()
    }
}
