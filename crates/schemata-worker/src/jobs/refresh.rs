//! One refresh, top down: claim the run, read the source, write what changed
//! and close the run in one transaction (the plan in `plan`, its writing in
//! `apply`). A failure keeps the old cache.

use crate::jobs::{
    apply::{Applied, Writer},
    cached_index::CachedIndex,
    context::{BUSY_RETRY, RefreshContext, SHARE_RETRY},
    outcome::RefreshOutcome,
    read::{PreparedRead, prepare},
    summary::summarize,
};
use anyhow::Context;
use schemata_core::{RefreshFailure, RefreshJob};
use schemata_sources::{Source, SourceError};
use schemata_store::runs::{self, Claim, ClaimSession, RunRow};
use std::time::{Duration, Instant};
use tracing::Instrument;

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
    let deferred = |delay: Duration, why: &'static str| async move {
        runs::defer(&ctx.pool, &job, task_id, delay)
            .await
            .context(why)
            .map(|_| RefreshOutcome::Deferred)
    };
    let outcome = match session.claim(job.run_id, task_id, ctx.slots).await {
        Err(error) => Err(anyhow::Error::new(error).context("Failed to claim the refresh run")),
        Ok(Claim::Stale) => Ok(RefreshOutcome::Skipped),
        Ok(Claim::Busy) => {
            deferred(BUSY_RETRY, "Failed to put a busy refresh back on the queue").await
        }
        Ok(Claim::OverShare) => {
            deferred(
                SHARE_RETRY,
                "Failed to put a refresh over its organization's share back on the queue",
            )
            .await
        }
        Ok(Claim::SourceAtCapacity) => {
            deferred(
                SHARE_RETRY,
                "Failed to put a refresh of a server at capacity back on the queue",
            )
            .await
        }
        Ok(Claim::Claimed(run)) => run_claimed(ctx, &run, &mut session, task_id).await,
    };
    // Ending the session releases the claim's locks, after the run was closed.
    session.close().await;
    let label = outcome
        .as_ref()
        .map_or("infrastructure_error", RefreshOutcome::label);
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

/// The refresh proper, while this worker holds the run's claim: read, write,
/// close, or hand the run back or to its next attempt.
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
        return fail(ctx, run, error, started, false).await;
    }
    let cached = CachedIndex::load(ctx.pool.clone(), run.connection_id);
    let PreparedRead {
        source,
        scope,
        generation,
    } = match prepare(ctx, run, &cached).await {
        Ok(prepared) => prepared,
        Err(error) => return fail(ctx, run, error, started, false).await,
    };
    // The source reads on a task of its own (decoding and assembling on one
    // core) while the writer hashes and writes what it sends on another. The
    // set aborts the read if this refresh is dropped.
    let (sink, batches) = tokio::sync::mpsc::channel(2);
    let writer = Writer::begin(&ctx.pool, run, cached, generation).await?;
    let job_timeout = ctx.job_timeout;
    let mut reading = tokio::task::JoinSet::new();
    reading.spawn(
        async move { tokio::time::timeout(job_timeout, source.introspect(&scope, sink)).await }
            .in_current_span(),
    );
    // Cancelling (DELETE …/refreshes/{job_id}) is noticed between reads:
    // dropping the work aborts the read and rolls the write back.
    let (read, written) = tokio::select! {
        done = async { tokio::join!(reading.join_next(), writer.consume(batches)) } => done,
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
            tracing::info!(job.id = %run.id, ?handed, "worker stopping: refresh handed back to the queue");
            return match handed {
                runs::HandBack::HandedBack => Ok(RefreshOutcome::HandedBack),
                runs::HandBack::NotOurs => Ok(RefreshOutcome::Skipped),
                runs::HandBack::LimitReached => {
                    let error = format!(
                        "Refresh handed back {} times by stopping workers and not again: \
                         workers are stopped before it can finish.",
                        runs::MAX_HAND_BACKS
                    );
                    fail(ctx, run, error, started, false).await
                }
            };
        }
    };
    let read = match read {
        Some(Ok(read)) => read,
        Some(Err(error)) => Ok(Err(SourceError::Query(format!(
            "the read stopped: {error}"
        )))),
        None => Ok(Err(SourceError::Query("the read never started".into()))),
    };
    // `source_failed`: the source could not be read (the connection turns
    // unhealthy), as opposed to a failure of ours.
    let (error, transient, source_failed) = match (read, written) {
        (Ok(Ok(introspection)), Ok(writer)) => match writer.finish(introspection, started).await {
            Ok(Applied::Closed(status)) => return Ok(RefreshOutcome::Refreshed(status)),
            Ok(Applied::RunEnded) => return Ok(RefreshOutcome::Skipped),
            Ok(Applied::EveryObjectFailed(message)) => (message, false, false),
            Ok(Applied::Superseded) => return read_again(ctx, run, started).await,
            Err(error) => (write_failure(run, &error), false, false),
        },
        (_, Err(error)) => (write_failure(run, &error), false, false),
        (Ok(Err(error)), Ok(_)) => (error.to_string(), error.is_transient(), true),
        (Err(_), Ok(_)) => (
            format!("Refresh timed out after {}s.", job_timeout.as_secs()),
            false,
            true,
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
    fail(ctx, run, error, started, source_failed).await
}

/// The connection changed while its source was read: read again at once,
/// under what it says now, without using up an attempt.
async fn read_again(
    ctx: &RefreshContext,
    run: &RunRow,
    started: Instant,
) -> anyhow::Result<RefreshOutcome> {
    let message =
        "The connection's configuration or filters changed during the refresh; reading it again.";
    if runs::retry_later(&ctx.pool, run, Duration::ZERO, message, false).await? {
        tracing::info!(job.id = %run.id, "connection changed mid-refresh; reading again");
        return Ok(RefreshOutcome::RetryScheduled(Duration::ZERO));
    }
    fail(ctx, run, message.to_owned(), started, false).await
}

/// How often a running refresh checks whether it was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(250);

/// Resolves once the run is no longer running (cancelled, or closed elsewhere).
async fn cancelled(pool: &schemata_store::PgPool, run_id: uuid::Uuid) {
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

/// Closes the run as failed; the cache is not touched. `source_failed`: the
/// source could not be read, and the connection turns unhealthy.
pub(crate) async fn fail(
    ctx: &RefreshContext,
    run: &RunRow,
    error: String,
    started: Instant,
    source_failed: bool,
) -> anyhow::Result<RefreshOutcome> {
    tracing::warn!(job.id = %run.id, connection.id = %run.connection_id, error = %error, "refresh failed");
    let failure = RefreshFailure {
        object: "*".into(),
        error: error.clone(),
    };
    let mut result = summarize(run, std::iter::empty(), vec![failure], 0, started);
    result.message = format!("Refresh failed: {error}");
    if runs::fail(&ctx.pool, run, &result, &error, source_failed).await? {
        Ok(RefreshOutcome::Failed(error))
    } else {
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
