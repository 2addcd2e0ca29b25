//! Builds the worker: the queue backend (NOTIFY plus a fallback poll), the ops
//! server, and the shutdown path.

use crate::{RefreshContext, WorkerSettings, jobs::refresh::handle, ops};
use anyhow::Context;
use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_core::backend::ext::poll_strategy::{PollWith, Strategy};
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use schemata_core::RefreshJob;
use schemata_sources::AccessPolicy;
use schemata_store::runs::Slots;
use schemata_store::{PgPool, QUEUE_NAME};
use std::{net::TcpListener, sync::Arc};

pub struct Worker {
    settings: WorkerSettings,
    pool: PgPool,
    ops_listener: TcpListener,
    name: String,
}

impl Worker {
    /// Connects to a migrated database and binds the ops port.
    pub async fn build(settings: WorkerSettings) -> anyhow::Result<Self> {
        let pool = settings
            .store
            .connect_migrated()
            .await
            .context("Failed to open the Schemata database")?;
        Self::build_with_pool(settings, pool)
    }

    pub fn build_with_pool(settings: WorkerSettings, pool: PgPool) -> anyhow::Result<Self> {
        schemata_telemetry::metrics::recorder();
        let ops_listener = TcpListener::bind((settings.ops_host.as_str(), settings.ops_port))
            .with_context(|| {
                format!("Failed to bind {}:{}", settings.ops_host, settings.ops_port)
            })?;
        Ok(Self {
            settings,
            pool,
            ops_listener,
            name: unique_name(),
        })
    }

    pub fn ops_port(&self) -> u16 {
        self.ops_listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Works the queue until `shutdown` resolves, then lets running refreshes finish
    /// (up to the shutdown timeout). Returns an error if the queue stream dies, so a
    /// supervisor restarts the process instead of keeping a worker that fetches nothing.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let secrets = self
            .settings
            .store
            .secret_box()
            .map_err(anyhow::Error::msg)?;
        let policy = AccessPolicy::build(
            &self.settings.sources.policy,
            &self.settings.store.database_url,
        )
        .await
        .map_err(anyhow::Error::msg)
        .context("Invalid source access policy")?;
        // Refreshes still running when the grace period ends go back to the queue.
        let (hand_back_now, hand_back) = crate::HandBack::channel();
        let context = Arc::new(RefreshContext {
            hand_back,
            // One per refresh slot, and one spare for a claim being closed.
            claim_pool: schemata_store::runs::ClaimPool::new(
                &self.pool,
                u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX) + 1,
            ),
            pool: self.pool.clone(),
            secrets,
            limits: self.settings.sources.limits,
            policy,
            job_timeout: self.settings.job_timeout,
            retry: crate::jobs::context::RetryPolicy {
                attempts: self.settings.retry_attempts,
                base_delay: self.settings.retry_base_delay,
            },
            slots: Slots {
                per_organization: self.settings.organization_slots,
                per_source_server: self.settings.source_server_slots,
            },
        });
        let maintenance = tokio::spawn(maintain(
            context.clone(),
            self.settings.maintenance_interval,
            self.settings.history_retention_days,
        ));
        let reaper = tokio::spawn(crate::reaper::run(
            self.pool.clone(),
            self.settings.orphan_check_interval,
        ));
        let scheduler = tokio::spawn(crate::scheduler::run(
            self.pool.clone(),
            self.settings.scheduler_interval,
            self.settings.scheduler_batch,
        ));
        let webhooks = tokio::spawn(
            crate::webhooks::WebhookSender::new(
                self.pool.clone(),
                context.secrets.clone(),
                context.policy.clone(),
                self.settings.webhooks.clone(),
            )
            .run(),
        );
        let ops = ops::serve(self.ops_listener.try_clone()?, self.pool.clone())?;
        let ops_handle = ops.handle();
        tokio::spawn(ops);

        tracing::info!(worker.name = %self.name, concurrency = self.settings.concurrency, "schemata-worker started");
        // One signal, seen by every incarnation of the queue worker below.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let grace = self.settings.shutdown_timeout;
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
            tokio::time::sleep(grace).await;
            let _ = hand_back_now.send(true);
        });
        let mut incarnation = 0usize;
        let result = loop {
            let monitor = self.monitor(context.clone(), incarnation);
            let mut signal = stopped.clone();
            let outcome = monitor
                .run_with_signal(async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                    tracing::info!("shutting down: finishing running refreshes");
                    Ok(())
                })
                .await;
            if *stopped.borrow() {
                break outcome;
            }
            // Not asked to stop: the queue stream died, typically because our
            // database went away. A worker that exits leaves queued refreshes
            // with nobody to run them, so it starts a new one and keeps trying
            // for as long as the outage lasts.
            incarnation += 1;
            let pause = RESTART_PAUSE.saturating_mul(incarnation.min(5) as u32);
            tracing::error!(
                outcome = ?outcome,
                restart.in_ms = pause.as_millis() as u64,
                "the queue worker stopped; starting it again"
            );
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = async { stopped.clone().wait_for(|stop| *stop).await.map(drop) } => break Ok(()),
            }
        };
        ops_handle.stop(true).await;
        maintenance.abort();
        scheduler.abort();
        reaper.abort();
        webhooks.abort();
        result.context("The queue worker stopped unexpectedly")
    }
}

/// Time a refresh gets to hand itself back once the grace period is over.
const HAND_BACK_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Pause before starting the queue worker again after its stream died,
/// growing with each restart in a row (up to five times this).
const RESTART_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

impl Worker {
    /// The queue worker: fetches on NOTIFY with a fallback poll, and runs
    /// refreshes. Built anew after its stream dies.
    fn monitor(&self, context: Arc<RefreshContext>, incarnation: usize) -> Monitor {
        let settings = self.settings.clone();
        let pool = self.pool.clone();
        let name = format!("{}-{incarnation}", self.name);
        Monitor::new()
            .register(move |restarts| {
                let config = Config::default()
                    .queue(QUEUE_NAME)
                    .batch_size(settings.concurrency.max(1))
                    .heartbeat_interval(settings.heartbeat_interval)
                    .missed_heartbeats(settings.missed_heartbeats);
                let storage = PostgresStorage::<RefreshJob>::new(&pool).with_config(config);
                // Wake on NOTIFY at once; poll as a fallback for missed notifications.
                let strategy = Strategy::new()
                    .stream(Pubsub::new(pool.clone(), QUEUE_NAME.to_owned()))
                    .interval(settings.poll_interval);
                WorkerBuilder::new(format!("{name}-{restarts}"))
                    .backend(PollWith::new(storage, strategy))
                    .data(context.clone())
                    .concurrency(settings.concurrency.max(1))
                    .build(handle)
            })
            // Past the grace period, running refreshes hand themselves back;
            // this leaves them the time to do so.
            .shutdown_timeout(self.settings.shutdown_timeout + HAND_BACK_ALLOWANCE)
    }
}

/// Sweeps lost runs and old jobs every `interval`, for as long as the worker runs.
async fn maintain(
    context: Arc<RefreshContext>,
    interval: std::time::Duration,
    retention_days: u32,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = crate::jobs::maintenance::sweep(&context, retention_days).await {
            tracing::warn!(error = ?error, "queue maintenance failed; will retry");
        }
    }
}

/// host + pid + random: a restarted worker must not inherit its predecessor's
/// name, or the jobs that predecessor held would never be re-queued.
fn unique_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!(
        "schemata-worker-{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// What `schemata-worker` (and `schemata worker`) run: settings from the
/// environment, work until SIGINT/SIGTERM.
pub async fn run_from_env() -> anyhow::Result<()> {
    let settings = WorkerSettings::from_env()
        .map_err(anyhow::Error::msg)
        .context("Invalid configuration")?;
    let worker = Worker::build(settings).await?;
    tracing::info!(
        ops_port = worker.ops_port(),
        worker.name = worker.name(),
        "schemata-worker ready"
    );
    worker.run_until_stopped(crate::shutdown_signal()).await
}
