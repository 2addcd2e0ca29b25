//! `POST /api/connections/{id}/schemas/refresh`: join, widen or queue a run. A
//! new run needs a healthy source first, and is recorded, marked and enqueued
//! in one transaction.

use crate::{
    auth::{Authorized, Caller, SchemasWrite},
    dto,
    error::ApiError,
    health,
    idempotency::{self, Answer},
    own_connection,
    routes::status,
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::Utc;
use schemata_core::{CacheStatus, ConnectionStatus, RefreshOptions, Trigger};
use schemata_store::{
    connections::ConnectionRow,
    rate_limits::{self, Verdict},
    runs::{self, Admission, AdmitOutcome},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// Rounds of "decide, check health, decide again" before giving up.
const ADMIT_ROUNDS: usize = 3;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshQuery {
    /// `true` (default): also remove cached objects gone from the source; `false`: soft, additive only.
    #[param(value_type = Option<bool>)]
    hard_refresh: Option<String>,
    /// Comma-separated schemas to refresh (soft refresh only).
    schemas: Option<String>,
    /// Comma-separated schema ids to refresh (soft refresh only): `schema.table`, a part holding `.` or `"` double-quoted.
    tables: Option<String>,
    /// Seconds: a `fresh` cache younger than this answers 200 with the status, no run.
    #[param(value_type = Option<u32>)]
    max_age: Option<String>,
}

/// Asks for a refresh: checks the source's health, then queues a run (or
/// joins one already covering the request) and answers 202 with `Location`.
#[utoipa::path(
    post, path = "/api/connections/{id}/schemas/refresh", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id."), RefreshQuery, ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a repeated request with the same key (24 h).")),
    responses(
        (status = 202, description = "Queued, or joined a run that covers it.", body = dto::RefreshAcceptedEnvelope,
            headers(("Location" = String, description = "The status to poll."))),
        (status = 200, description = "No run needed: disabled connection, or a young enough cache with `max_age`.", body = dto::RefreshNotNeededEnvelope),
        (status = 400, description = "Invalid options.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
        (status = 409, description = "`connection_unhealthy`: the source did not answer the health check.", body = dto::ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many refresh requests with this key.", body = dto::ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds until a request is accepted again."))),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn refresh(
    caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<RefreshQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let options = parse_options(&query)?;
    let max_age = parse_max_age(query.max_age.as_deref())?;
    let limit = state.refresh_requests_per_minute;
    if limit > 0
        && let Verdict::Limited { retry_after_secs } =
            rate_limits::hit(&state.pool, caller.key_id, limit).await?
    {
        return Err(ApiError::RateLimited {
            limit,
            retry_after_secs,
        });
    }
    let caller_org = caller.organization_id;
    let (caller, id) = (caller.clone(), *id);
    // The connection is loaded inside: a retry with the same Idempotency-Key
    // replays the first answer whatever became of the connection since.
    let answering = {
        let state = state.clone();
        async move { answer(&caller, &state, id, options, max_age).await }
    };
    idempotency::once(state, caller_org, &request, &[], answering).await
}

async fn answer(
    caller: &Caller,
    state: &AppState,
    id: Uuid,
    options: RefreshOptions,
    max_age: Option<i64>,
) -> Result<Answer, ApiError> {
    let row = own_connection::load(state, caller, id).await?;
    refuse_outside_pinned_schema(&row, &options)?;
    if row.status == ConnectionStatus::Disabled {
        let skipped = dto::RefreshNotNeeded::Skipped(dto::Skipped::disabled());
        return Ok(Answer::of(
            StatusCode::OK,
            &dto::RefreshNotNeededEnvelope::new(skipped),
        ));
    }
    if let (Some(max_age), Some(finished)) = (max_age, row.last_refresh_finished)
        && row.cache_status == CacheStatus::Fresh
        && row.stale_reason.is_none()
        && (Utc::now() - finished).num_seconds() < max_age
    {
        let status = status::current(state, caller.organization_id, row.id).await?;
        let fresh_enough = dto::RefreshNotNeeded::FreshEnough(Box::new(status));
        return Ok(Answer::of(
            StatusCode::OK,
            &dto::RefreshNotNeededEnvelope::new(fresh_enough),
        ));
    }
    // A run already covering the request answers at once: no source check, no
    // write. (Only a refreshing cache can have one; otherwise the transaction
    // below finds out for itself.)
    if row.cache_status == CacheStatus::Refreshing {
        let active = runs::active(&state.pool, row.id).await?;
        if let runs::Plan::Join(run) = runs::plan(&active, &options)? {
            return Ok(accepted(
                row.id,
                Admission::Joined {
                    run_id: run.id,
                    status: run.status,
                },
            ));
        }
    }
    let mut source_is_healthy = health::recently_healthy(&row, state.health_verdict_ttl);
    for _ in 0..ADMIT_ROUNDS {
        let mut tx = state
            .pool
            .begin()
            .await
            .map_err(schemata_store::StoreError::from)?;
        let outcome = runs::admit(
            &mut tx,
            caller.organization_id,
            row.id,
            &options,
            Some(caller.key_id),
            Trigger::Api,
            source_is_healthy,
        )
        .await;
        match outcome {
            Ok(AdmitOutcome::Admitted(admitted)) => {
                tx.commit()
                    .await
                    .map_err(schemata_store::StoreError::from)?;
                return Ok(accepted(row.id, admitted));
            }
            Ok(AdmitOutcome::ConnectionGone) => return Err(ApiError::connection_not_found(row.id)),
            Ok(AdmitOutcome::NeedsHealthCheck) => {
                drop(tx);
                let outcome = health::check(state, &row).await?;
                if let Some(reason) = outcome.message {
                    return Err(ApiError::ConnectionUnhealthy(format!(
                        "Connection is unhealthy: {reason}"
                    )));
                }
                source_is_healthy = true;
            }
            // Deleted while we were queueing: the run's foreign key says so.
            Err(error) if error.is_foreign_key_violation() => {
                return Err(ApiError::connection_not_found(row.id));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::Conflict(
        "The connection's refresh state kept changing; try again.".into(),
    ))
}

/// 202 with `Location`, and a body that says how the request was answered.
fn accepted(connection_id: Uuid, admission: Admission) -> Answer {
    let mut answer = Answer::of(
        StatusCode::ACCEPTED,
        &dto::RefreshAcceptedEnvelope::new(dto::RefreshAccepted::of(connection_id, admission)),
    );
    answer.location = Some(format!("/api/connections/{connection_id}/schemas/status"));
    answer
}

fn parse_options(query: &RefreshQuery) -> Result<RefreshOptions, ApiError> {
    let hard_refresh = match query.hard_refresh.as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`hard_refresh` must be true or false, not `{}`.",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    RefreshOptions::parse(
        hard_refresh,
        query.schemas.as_deref(),
        query.tables.as_deref(),
    )
    .map_err(ApiError::BadRequest)
}

/// A partial refresh of schemas the connection cannot hold (another database
/// than its MySQL URL's) would do nothing: a 400, as such a filter is.
fn refuse_outside_pinned_schema(
    row: &ConnectionRow,
    options: &RefreshOptions,
) -> Result<(), ApiError> {
    let Ok(config) = schemata_core::SourceConfig::parse(row.kind, &row.configuration) else {
        return Ok(());
    };
    let Some(database) = config.pinned_schema() else {
        return Ok(());
    };
    let outside = options
        .schemas
        .iter()
        .find(|s| *s != database)
        .cloned()
        .or_else(|| {
            options
                .tables
                .iter()
                .find(|t| t.schema != database)
                .map(ToString::to_string)
        });
    match outside {
        Some(name) => Err(ApiError::BadRequest(format!(
            "`{name}` is outside this connection: the URL's database `{database}` scopes it."
        ))),
        None => Ok(()),
    }
}

fn parse_max_age(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.parse::<u32>().map(i64::from).map_err(|_| {
            ApiError::BadRequest(format!(
                "`max_age` must be a number of seconds, not `{}`.",
                raw.chars().take(32).collect::<String>()
            ))
        })
    })
    .transpose()
}
