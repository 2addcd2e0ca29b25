//! One refresh: claim the run, introspect the source, write the new snapshot and
//! close the run in one transaction. A failure keeps the old cache.

use anyhow::Context;
use schemata_core::{
    RefreshFailure, RefreshJob, RefreshResult, RunStatus, SchemaFilter, Snapshot, TableAllowlist,
    diff, refresh::SchemaSummary,
};
use schemata_sources::{
    AccessPolicy, Introspection, IntrospectionScope, Source, SourceLimits, connect,
};
use schemata_store::{
    PgPool, SecretBox,
    claims::{self, Claim, ClaimSession},
    connections,
    runs::{self, RunRow},
    snapshots,
};
use std::{collections::BTreeMap, time::Duration, time::Instant};

/// What a refresh needs from the process: our database, the key, the limits and
/// the access policy every source passes.
pub struct RefreshContext {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub limits: SourceLimits,
    pub policy: AccessPolicy,
    pub job_timeout: Duration,
}

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
}

/// Runs the refresh named by `job`, delivered as apalis task `task_id`. Errors
/// are infrastructure failures (our own database), which the queue retries.
pub async fn refresh(
    ctx: &RefreshContext,
    job: RefreshJob,
    task_id: &str,
) -> anyhow::Result<RefreshOutcome> {
    let mut session = ClaimSession::open(&ctx.pool)
        .await
        .context("Failed to open a claim session")?;
    let outcome = match session.claim(job.run_id, task_id).await {
        Err(error) => Err(anyhow::Error::new(error).context("Failed to claim the refresh run")),
        Ok(Claim::Stale) => Ok(RefreshOutcome::Skipped),
        Ok(Claim::Busy) => claims::defer(&ctx.pool, &job, task_id, BUSY_RETRY)
            .await
            .context("Failed to put a busy refresh back on the queue")
            .map(|_| RefreshOutcome::Deferred),
        Ok(Claim::Claimed(run)) => run_claimed(ctx, &run).await,
    };
    // Ending the session releases the claim's locks, after the run was closed.
    session.close().await;
    outcome
}

/// The refresh proper, while this worker holds the run's claim.
async fn run_claimed(ctx: &RefreshContext, run: &RunRow) -> anyhow::Result<RefreshOutcome> {
    let started = Instant::now();
    if run.attempt > run.max_attempts {
        let error = format!(
            "Gave up after {} attempts: the worker was lost while refreshing.",
            run.max_attempts
        );
        return record_failure(ctx, run, error, started).await;
    }
    let introspected = tokio::time::timeout(ctx.job_timeout, introspect(ctx, run)).await;
    let introspection = match introspected {
        Ok(Ok(introspection)) => introspection,
        Ok(Err(error)) => return record_failure(ctx, run, error, started).await,
        Err(_) => {
            let error = format!("Refresh timed out after {}s.", ctx.job_timeout.as_secs());
            return record_failure(ctx, run, error, started).await;
        }
    };
    match apply(ctx, run, introspection, started).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            tracing::error!(job.id = %run.id, error = ?error, "failed to write the snapshot");
            record_failure(
                ctx,
                run,
                "Failed to write the new schema cache; the previous cache is kept.".into(),
                started,
            )
            .await
        }
    }
}

/// Reads the source as the run asks; the error is a message for the run's owner.
async fn introspect(ctx: &RefreshContext, run: &RunRow) -> Result<Introspection, String> {
    let connection = connections::get_by_id(&ctx.pool, run.connection_id)
        .await
        .map_err(|e| format!("Failed to load the connection: {e}"))?
        .ok_or("The connection was deleted.")?;
    let kind = connection.source_kind().map_err(|e| e.to_string())?;
    let config = connections::source_config(&ctx.pool, &ctx.secrets, connection.id)
        .await
        .map_err(|e| e.to_string())?;
    let scope = IntrospectionScope {
        schema_filter: SchemaFilter::parse(connection.schema_filter).map_err(|e| e.to_string())?,
        table_allowlist: TableAllowlist::parse(connection.table_allowlist)
            .map_err(|e| e.to_string())?,
        options: run.options().map_err(|e| e.to_string())?,
    };
    let source = connect(kind, &config, ctx.limits, &ctx.policy).map_err(|e| e.to_string())?;
    source.introspect(&scope).await.map_err(|e| e.to_string())
}

/// Writes the snapshot and closes the run in one transaction: readers see the old
/// cache or the new one, never a mix. On any error the transaction is rolled back
/// before returning, so its locks cannot outlive it.
pub async fn apply(
    ctx: &RefreshContext,
    run: &RunRow,
    introspection: Introspection,
    started: Instant,
) -> anyhow::Result<RefreshOutcome> {
    let total = i32::try_from(introspection.snapshot.objects.len()).unwrap_or(i32::MAX);
    runs::set_progress(&ctx.pool, run.id, 0, total)
        .await
        .context("Failed to record progress")?;
    let mut tx = ctx
        .pool
        .begin()
        .await
        .context("Failed to begin the snapshot transaction")?;
    match write_snapshot(&mut tx, run, introspection, started).await {
        Ok(RefreshOutcome::Refreshed(status)) => {
            tx.commit().await.context("Failed to commit the snapshot")?;
            Ok(RefreshOutcome::Refreshed(status))
        }
        Ok(other) => {
            tx.rollback().await.context("Failed to roll back")?;
            Ok(other)
        }
        Err(error) => {
            tx.rollback().await.ok();
            Err(error)
        }
    }
}

async fn write_snapshot(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    run: &RunRow,
    introspection: Introspection,
    started: Instant,
) -> anyhow::Result<RefreshOutcome> {
    let options = run.options()?;
    let previous = snapshots::load(tx, run.connection_id)
        .await
        .context("Failed to read the cached snapshot")?;
    let cache = previous.after_refresh(introspection.snapshot.clone(), options.hard_refresh);
    let change_set = diff(&previous, &cache);
    snapshots::replace(tx, run.connection_id, &cache)
        .await
        .context("Failed to write the snapshot")?;
    let status = if introspection.failures.is_empty() {
        RunStatus::Succeeded
    } else {
        RunStatus::Partial
    };
    let result = summarize(
        run,
        &introspection.snapshot,
        introspection.failures,
        change_set.removed.len(),
        started,
    );
    let closed = runs::finish(
        tx,
        run,
        status,
        &serde_json::to_value(&result)?,
        None,
        Some(&serde_json::to_value(&change_set)?),
    )
    .await
    .context("Failed to close the refresh run")?;
    if !closed {
        return Ok(RefreshOutcome::Skipped);
    }
    tracing::info!(
        job.id = %run.id, connection.id = %run.connection_id, objects = cache.objects.len(),
        changed = change_set.changed.len(), added = change_set.added.len(), removed = change_set.removed.len(),
        duration_ms = started.elapsed().as_millis() as u64, "refresh complete"
    );
    Ok(RefreshOutcome::Refreshed(status))
}

pub(crate) async fn record_failure(
    ctx: &RefreshContext,
    run: &RunRow,
    error: String,
    started: Instant,
) -> anyhow::Result<RefreshOutcome> {
    tracing::warn!(job.id = %run.id, connection.id = %run.connection_id, error = %error, "refresh failed");
    let failure = RefreshFailure {
        object: "*".into(),
        error: error.clone(),
    };
    let mut result = summarize(run, &Snapshot::default(), vec![failure], 0, started);
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

fn summarize(
    run: &RunRow,
    read: &Snapshot,
    failures: Vec<RefreshFailure>,
    deleted_count: usize,
    started: Instant,
) -> RefreshResult {
    let mut per_schema: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for object in &read.objects {
        let counts = per_schema.entry(object.schema.as_str()).or_default();
        if object.kind.is_view() {
            counts.1 += 1
        } else {
            counts.0 += 1
        }
    }
    RefreshResult {
        job_id: run.id,
        ok: failures.is_empty(),
        message: format!(
            "Refresh complete. {} table(s) refreshed, {} failed, {} deleted.",
            read.table_count(),
            failures.len(),
            deleted_count
        ),
        table_count: read.table_count(),
        view_count: read.view_count(),
        column_count: read.column_count(),
        failed_table_count: failures.len(),
        deleted_count,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        schemas: per_schema
            .into_iter()
            .map(|(schema, (tables, views))| SchemaSummary {
                schema_name: schema.to_owned(),
                tables_count: tables,
                views_count: views,
            })
            .collect(),
        failures,
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
