//! Refresh history: a connection's runs, one run with the changes it applied,
//! cancelling a run, and the organization's runs across connections.

use crate::{
    auth::{Authorized, SchemasRead, SchemasWrite},
    dto::{self, Body},
    error::ApiError,
    own_connection::OwnConnectionId,
    routes::pages::{next_cursor, page_limit},
    state::AppState,
};
use actix_web::{HttpResponse, web};
use schemata_core::RunStatus;
use schemata_store::{
    history::{self, HistoryQuery},
    runs::{self, Cancelled},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    /// Comma-separated run statuses to keep (`queued,running`…).
    status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/connections/{id}/schemas/refreshes`
/// The connection's runs, newest first.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/refreshes", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id."), HistoryParams),
    responses(
        (status = 200, description = "A page of runs.", body = dto::RunPage),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let row = connection.load(&state).await?;
    let (runs, next) = page(&state, caller.organization_id, Some(row.id), &params).await?;
    Ok(dto::RunPage::new(runs, next).ok())
}

/// `GET /api/refreshes?status=queued,running`: what an operator watches.
/// Runs across the organization, newest first, with the queue's counts.
#[utoipa::path(
    get, path = "/api/refreshes", tag = "refresh",
    params(HistoryParams),
    responses(
        (status = 200, description = "A page of runs.", body = dto::OrganizationRuns),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_all(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let (runs, next) = page(&state, caller.organization_id, None, &params).await?;
    let (queued, running) =
        history::active_counts(&state.pool, Some(caller.organization_id)).await?;
    let counts = dto::ActiveCounts { queued, running };
    Ok(dto::OrganizationRuns::new(runs, counts, next).ok())
}

async fn page(
    state: &AppState,
    organization_id: Uuid,
    connection_id: Option<Uuid>,
    params: &HistoryParams,
) -> Result<(Vec<dto::Run>, Option<String>), ApiError> {
    let limit = page_limit(params.limit)?;
    let before = params
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| ApiError::BadRequest(format!("Invalid cursor `{c}`.")))
        })
        .transpose()?;
    let mut rows = history::list(
        &state.pool,
        &HistoryQuery {
            organization_id,
            connection_id,
            statuses: parse_statuses(params.status.as_deref())?,
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let next = next_cursor(&mut rows, limit, |r| r.id.to_string());
    Ok((rows.iter().map(dto::Run::summary).collect(), next))
}

fn parse_statuses(raw: Option<&str>) -> Result<Vec<RunStatus>, ApiError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<RunStatus>().map_err(|_| {
                let all: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "Unknown run status `{}`: use {}.",
                    s.chars().take(32).collect::<String>(),
                    all.join(", ")
                ))
            })
        })
        .collect()
}

/// `GET /api/connections/{id}/schemas/refreshes/{job_id}`
/// One run, with its result and change set.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/refreshes/{job_id}", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id."), ("job_id" = Uuid, Path, description = "The run's id (`job_id` of the 202).")),
    responses(
        (status = 200, description = "The run.", body = dto::RunEnvelope),
        (status = 404, description = "No such connection or run.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, job_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let found = history::get(&state.pool, caller.organization_id, row.id, job_id)
        .await?
        .ok_or_else(|| run_not_found(job_id))?;
    Ok(dto::RunEnvelope::new(dto::Run::from(&found)).ok())
}

/// `DELETE /api/connections/{id}/schemas/refreshes/{job_id}`: cancels a queued
/// run at once, a running one at its next checkpoint. 409 once it has ended.
/// Cancels a queued or running run; the cache keeps what it had.
#[utoipa::path(
    delete, path = "/api/connections/{id}/schemas/refreshes/{job_id}", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id."), ("job_id" = Uuid, Path, description = "The run's id (`job_id` of the 202).")),
    responses(
        (status = 200, description = "The run, now cancelled.", body = dto::RunEnvelope),
        (status = 404, description = "No such connection or run.", body = dto::ErrorEnvelope),
        (status = 409, description = "The run has already ended.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel(
    caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, job_id) = path.into_inner();
    let row = connection.load(&state).await?;
    match runs::cancel(&state.pool, row.id, job_id).await? {
        Cancelled::NotFound => Err(run_not_found(job_id)),
        Cancelled::AlreadyEnded(status) => Err(ApiError::Conflict(format!(
            "Refresh {job_id} has already ended ({}); there is nothing to cancel.",
            status.as_str()
        ))),
        Cancelled::Now { .. } => {
            let found = history::get(&state.pool, caller.organization_id, row.id, job_id)
                .await?
                .ok_or_else(|| run_not_found(job_id))?;
            Ok(dto::RunEnvelope::new(dto::Run::from(&found)).ok())
        }
    }
}

fn run_not_found(job_id: Uuid) -> ApiError {
    ApiError::NotFound(format!("Refresh not found: {job_id}"))
}
