//! One refresh: claim the run, introspect the source, write what changed and
//! close the run in one transaction. A failure keeps the old cache.

use crate::jobs::{
    apply::{Finish, Writer},
    cached_index::CachedIndex,
    summary::summarize,
};
use anyhow::Context;
use schemata_core::{RefreshFailure, RefreshJob, RunStatus, SchemaFilter, TableAllowlist};
use schemata_sources::{
    AccessPolicy, AnySource, IntrospectionScope, Known, Source, SourceError, SourceLimits, connect,
};
use schemata_store::{
    PgPool, SecretBox,
    claims::{self, Claim, ClaimSession, Slots},
    connections,
    runs::{self, RunRow},
    snapshots,
};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What a refresh needs from the process: our database, the key, the limits and
/// the access policy every source passes.
pub struct RefreshContext {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub limits: SourceLimits,
    pub policy: AccessPolicy,
    pub job_timeout: Duration,
    pub retry: RetryPolicy,
    /// Refreshes one organization, and one source server, may run at once
    /// across all workers: one tenant's burst or one slow server cannot take
    /// every slot.
    pub slots: Slots,
    /// Sessions that hold the claims of running refreshes.
    pub claim_pool: schemata_store::claims::ClaimPool,
    /// Due when a stopping worker's grace period is over.
    pub hand_back: crate::HandBack,
}

/// How often, and after how long, a refresh whose source failed transiently
/// is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1: never again).
    pub attempts: i32,
    /// The wait before the second attempt; each later one waits three times
    /// the one before, give or take a fifth (jitter, so that refreshes failed
    /// by one outage do not all come back at once).
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(10);
        crate::jitter::jittered(self.base_delay.saturating_mul(3u32.pow(exponent)))
    }
}

/// When a delivery finds its organization's (or its server's) slots all in
/// use, it is tried again after this.
pub const SHARE_RETRY: Duration = Duration::from_secs(2);

/// When a delivery finds its connection busy, it is tried again after this; a
/// run that finishes wakes the follow-up behind it sooner.
pub const BUSY_RETRY: Duration = Duration::from_secs(10);

/// How a job ended. Source failures are outcomes, not errors: they are recorded
/// on the run and never retried by the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed(RunStatus),
    Failed(String),
    /// The connection was being refreshed by another worker: put back on the queue.
    Deferred,
    /// The run was already finished, cancelled or deleted, or this delivery is
    /// not the run's current job: nothing to do.
    Skipped,
    /// Cancelled while running: stopped, nothing written.
    Cancelled,
    /// The source failed transiently; the run waits on the queue for its
    /// next attempt, after this long.
    RetryScheduled(Duration),
    /// This worker is stopping and its grace period ran out: the run is back
    /// at the front of the queue, its attempt not counted.
    HandedBack,
}

/// Runs the refresh named by `job`, delivered as apalis task `task_id`. Errors
/// are infrastructure failures (our own database), which the queue retries.
pub async fn refresh(
    ctx: &RefreshContext,
    job: RefreshJob,
    task_id: &str,
) -> anyhow::Result<RefreshOutcome> {
    let mut session = ClaimSession::open(&ctx.claim_pool)
        .await
        .context("Failed to open a claim session")?;
    let started = Instant::now();
    let outcome = match session.claim(job.run_id, task_id, ctx.slots).await {
        Err(error) => Err(anyhow::Error::new(error).context("Failed to claim the refresh run")),
        Ok(Claim::Stale) => Ok(RefreshOutcome::Skipped),
        Ok(Claim::Busy) => claims::defer(&ctx.pool, &job, task_id, BUSY_RETRY)
            .await
            .context("Failed to put a busy refresh back on the queue")
            .map(|_| RefreshOutcome::Deferred),
        Ok(Claim::OverShare) => claims::defer(&ctx.pool, &job, task_id, SHARE_RETRY)
            .await
            .context("Failed to put a refresh over its organization's share back on the queue")
            .map(|_| RefreshOutcome::Deferred),
        Ok(Claim::SourceAtCapacity) => claims::defer(&ctx.pool, &job, task_id, SHARE_RETRY)
            .await
            .context("Failed to put a refresh of a server at capacity back on the queue")
            .map(|_| RefreshOutcome::Deferred),
        Ok(Claim::Claimed(run)) => run_claimed(ctx, &run, &mut session, task_id).await,
    };
    // Ending the session releases the claim's locks, after the run was closed.
    session.close().await;
    let label = match &outcome {
        Ok(RefreshOutcome::Refreshed(status)) => status.as_str(),
        Ok(RefreshOutcome::Failed(_)) => "failed",
        Ok(RefreshOutcome::Deferred) => "deferred",
        Ok(RefreshOutcome::Skipped) => "skipped",
        Ok(RefreshOutcome::Cancelled) => "cancelled",
        Ok(RefreshOutcome::RetryScheduled(_)) => "retry_scheduled",
        Ok(RefreshOutcome::HandedBack) => "handed_back",
        Err(_) => "infrastructure_error",
    };
    metrics::counter!("schemata_refresh_jobs_total", "outcome" => label).increment(1);
    metrics::histogram!("schemata_refresh_job_duration_seconds", "outcome" => label)
        .record(started.elapsed().as_secs_f64());
    if matches!(outcome, Ok(RefreshOutcome::Cancelled))
        && let Err(error) = runs::wake_queued(&ctx.pool, job.connection_id).await
    {
        tracing::warn!(error = ?error, "could not wake the run queued behind a cancelled one");
    }
    outcome
}

/// The refresh proper, while this worker holds the run's claim.
async fn run_claimed(
    ctx: &RefreshContext,
    run: &RunRow,
    session: &mut ClaimSession,
    task_id: &str,
) -> anyhow::Result<RefreshOutcome> {
    let started = Instant::now();
    if run.attempt == 1 {
        // From the commit that queued it to this claim.
        let waited = (chrono::Utc::now() - run.queued_at)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("schemata_refresh_pickup_seconds").record(waited.as_secs_f64());
    }
    if run.attempt > run.max_attempts {
        let error = format!(
            "Gave up after {} attempts: the worker was lost while refreshing.",
            run.max_attempts
        );
        return record_failure(ctx, run, error, started).await;
    }
    let cached = CachedIndex::load(ctx.pool.clone(), run.connection_id);
    let (source, scope, generation) = match prepare(ctx, run, &cached).await {
        Ok(prepared) => prepared,
        Err(error) => return record_failure(ctx, run, error, started).await,
    };
    // The source reads on a task of its own (decoding and assembling on one
    // core) while the writer hashes and writes what it sends on another. The
    // set aborts the read if this refresh is dropped.
    let (sink, batches) = tokio::sync::mpsc::channel(2);
    let writer = Writer::begin(ctx, run, cached, generation).await?;
    let job_timeout = ctx.job_timeout;
    let mut reading = tokio::task::JoinSet::new();
    reading.spawn(
        async move { tokio::time::timeout(job_timeout, source.introspect(&scope, sink)).await }
            .in_current_span(),
    );
    // Cancelling (DELETE …/refreshes/{job_id}) is noticed between reads:
    // dropping the work aborts the read and rolls the write back.
    let (read, written) = tokio::select! {
        done = async { tokio::join!(reading.join_next(), writer.consume(ctx, batches)) } => done,
        () = cancelled(&ctx.pool, run.id) => {
            tracing::info!(job.id = %run.id, "refresh cancelled; the cache keeps its previous state");
            return Ok(RefreshOutcome::Cancelled);
        }
        // Dropping the work rolls the write back; the run goes to another worker.
        () = ctx.hand_back.due() => {
            let handed = session
                .hand_back(&ctx.pool, run.id, run.connection_id, task_id)
                .await
                .context("Failed to hand a refresh back to the queue")?;
            tracing::info!(job.id = %run.id, handed, "worker stopping: refresh handed back to the queue");
            return Ok(if handed { RefreshOutcome::HandedBack } else { RefreshOutcome::Skipped });
        }
    };
    let read = match read {
        Some(Ok(read)) => read,
        Some(Err(error)) => Ok(Err(SourceError::Query(format!(
            "the read stopped: {error}"
        )))),
        None => Ok(Err(SourceError::Query("the read never started".into()))),
    };
    let (error, transient) = match (read, written) {
        (Ok(Ok(introspection)), Ok(writer)) => match writer.finish(introspection, started).await {
            Ok(Finish::Done(outcome)) => return Ok(outcome),
            Ok(Finish::Failed(message)) => (message, false),
            Ok(Finish::Superseded) => {
                // Read again at once, under what the connection says now.
                let message = "The connection's configuration or filters changed during the refresh; reading it again.";
                if runs::retry_later(&ctx.pool, run, Duration::ZERO, message, false).await? {
                    tracing::info!(job.id = %run.id, "connection changed mid-refresh; reading again");
                    return Ok(RefreshOutcome::RetryScheduled(Duration::ZERO));
                }
                (message.to_owned(), false)
            }
            Err(error) => (write_failure(run, &error), false),
        },
        (_, Err(error)) => (write_failure(run, &error), false),
        (Ok(Err(error)), Ok(_)) => (error.to_string(), error.is_transient()),
        (Err(_), Ok(_)) => (
            format!("Refresh timed out after {}s.", job_timeout.as_secs()),
            false,
        ),
    };
    if transient && run.attempt < ctx.retry.attempts.min(run.max_attempts) {
        let delay = ctx.retry.delay_after(run.attempt);
        if runs::retry_later(&ctx.pool, run, delay, &error, true).await? {
            tracing::warn!(
                job.id = %run.id, connection.id = %run.connection_id, attempt = run.attempt,
                retry.in_ms = delay.as_millis() as u64, error = %error,
                "the source failed transiently; trying again later"
            );
            return Ok(RefreshOutcome::RetryScheduled(delay));
        }
    }
    record_failure(ctx, run, error, started).await
}

/// How often a running refresh checks whether it was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(250);

/// Resolves once the run is no longer running (cancelled, or closed elsewhere).
async fn cancelled(pool: &PgPool, run_id: uuid::Uuid) {
    let mut ticks = tokio::time::interval(CANCEL_CHECK);
    loop {
        ticks.tick().await;
        if let Ok(false) = runs::is_running(pool, run_id).await {
            return;
        }
    }
}

/// Logs a failure of our own database; the run's owner gets a plain message.
fn write_failure(run: &RunRow, error: &anyhow::Error) -> String {
    tracing::error!(job.id = %run.id, error = ?error, "failed to write the snapshot");
    "Failed to write the new schema cache; the previous cache is kept.".into()
}

/// The source and what to read of it, as the run asks, and the connection's
/// scope generation it was read under; the error is a message for the run's
/// owner.
async fn prepare(
    ctx: &RefreshContext,
    run: &RunRow,
    cached: &CachedIndex,
) -> Result<(AnySource, IntrospectionScope, i64), String> {
    let connection = connections::get_by_id(&ctx.pool, run.connection_id)
        .await
        .map_err(|e| format!("Failed to load the connection: {e}"))?
        .ok_or("The connection was deleted.")?;
    let kind = connection.source_kind().map_err(|e| e.to_string())?;
    let config = connections::source_config(&ctx.pool, &ctx.secrets, connection.id)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(error) =
        connections::note_source_server(&ctx.pool, connection.id, &config.server()).await
    {
        tracing::warn!(error = ?error, "could not record the connection's source server");
    }
    let (catalog_state, cache_keeps_unlisted) = {
        let mut conn = ctx.pool.acquire().await.map_err(|e| e.to_string())?;
        snapshots::catalog_state(&mut conn, connection.id)
            .await
            .map_err(|e| e.to_string())?
    };
    let scope = IntrospectionScope {
        schema_filter: SchemaFilter::parse(connection.schema_filter).map_err(|e| e.to_string())?,
        table_allowlist: TableAllowlist::parse(connection.table_allowlist)
            .map_err(|e| e.to_string())?,
        options: run.options().map_err(|e| e.to_string())?,
        known: Known {
            catalog_state,
            cached: cached.graph(),
            cache_keeps_unlisted,
        },
    };
    let source = connect(kind, &config, ctx.limits, &ctx.policy).map_err(|e| e.to_string())?;
    Ok((source, scope, connection.scope_generation))
}

/// Closes the run as failed; the cache is not touched.
pub(crate) async fn record_failure(
    ctx: &RefreshContext,
    run: &RunRow,
    error: String,
    started: Instant,
) -> anyhow::Result<RefreshOutcome> {
    tracing::warn!(job.id = %run.id, connection.id = %run.connection_id, error = %error, "refresh failed");
    if let Err(forgetting) = connections::forget_health(&ctx.pool, run.connection_id).await {
        tracing::warn!(error = ?forgetting, "could not forget the connection's health verdict");
    }
    let failure = RefreshFailure {
        object: "*".into(),
        error: error.clone(),
    };
    let mut result = summarize(run, std::iter::empty(), vec![failure], 0, started);
    result.message = format!("Refresh failed: {error}");
    let mut tx = ctx.pool.begin().await?;
    if runs::finish(
        &mut tx,
        run,
        RunStatus::Failed,
        &serde_json::to_value(&result)?,
        Some(&error),
        None,
    )
    .await?
    {
        tx.commit().await?;
        Ok(RefreshOutcome::Failed(error))
    } else {
        tx.rollback().await?;
        Ok(RefreshOutcome::Skipped)
    }
}

/// The apalis handler: a thin adapter. Infrastructure errors go back to the queue,
/// which retries the job (the run row counts attempts).
pub(crate) async fn handle(
    job: RefreshJob,
    task_id: apalis_core::task::task_id::TaskId,
    ctx: apalis::prelude::Data<std::sync::Arc<RefreshContext>>,
) -> Result<(), apalis::prelude::BoxDynError> {
    use tracing::Instrument;
    let span =
        tracing::info_span!("refresh", job.id = %job.run_id, connection.id = %job.connection_id);
    let task_id = task_id.to_string();
    let outcome = refresh(&ctx, job, &task_id).instrument(span.clone()).await;
    let _entered = span.enter();
    outcome.map(drop).map_err(|error| {
        tracing::error!(error = ?error, "refresh job failed; the queue will retry it");
        error.into()
    })
}
