//! `POST /api/connections/{id}/schemas/refresh`: health gate, then one transaction
//! that records the run, marks the cache refreshing and enqueues the job.

use crate::{
    auth::Caller, envelope, error::ApiError, health, routes::connections, routes::status,
    state::AppState,
};
use actix_web::{HttpResponse, http::StatusCode, http::header, web};
use chrono::Utc;
use schemata_core::{RefreshJob, RefreshOptions, Scope};
use schemata_store::{StoreError, runs};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Collisions with a run that finishes between our insert and our read are retried.
const START_ATTEMPTS: usize = 3;

#[derive(Deserialize)]
pub(crate) struct RefreshQuery {
    hard_refresh: Option<String>,
    schemas: Option<String>,
    tables: Option<String>,
    max_age: Option<String>,
}

pub(crate) async fn refresh(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<RefreshQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::SchemasWrite)?;
    let options = parse_options(&query)?;
    let max_age = parse_max_age(query.max_age.as_deref())?;
    let row = connections::load(&state, &caller, *id).await?;

    if row.status == "disabled" {
        return Ok(envelope::ok(json!({
            "skipped": true,
            "message": "Connection is disabled. Enable it before refreshing.",
        })));
    }
    if let (Some(max_age), Some(finished)) = (max_age, row.last_refresh_finished)
        && row.cache_status == "fresh"
        && (Utc::now() - finished).num_seconds() < max_age
    {
        return Ok(envelope::ok(status::view(&state, &row).await?));
    }
    // Joining a refresh already in flight needs no new health check.
    if let Some(active) = runs::active(&state.pool, row.id).await? {
        return Ok(accepted(row.id, active.id, &active.status, true));
    }
    let outcome = health::check(&state, &row).await?;
    if let Some(reason) = outcome.message {
        return Err(ApiError::ConnectionUnhealthy(format!(
            "Connection is unhealthy: {reason}"
        )));
    }
    for _ in 0..START_ATTEMPTS {
        if let Some(started) = start(&state, &caller, row.id, &options).await? {
            return Ok(accepted(
                row.id,
                started.run_id,
                "queued",
                started.coalesced,
            ));
        }
    }
    Err(ApiError::Conflict(
        "The connection's refresh state kept changing; try again.".into(),
    ))
}

/// Records the run, marks the cache refreshing and pushes the job, all or nothing.
/// `None` when the run this request collided with finished in between.
async fn start(
    state: &AppState,
    caller: &Caller,
    connection_id: Uuid,
    options: &RefreshOptions,
) -> Result<Option<runs::Started>, StoreError> {
    let mut tx = state.pool.begin().await?;
    let started = runs::start(
        &mut tx,
        caller.organization_id,
        connection_id,
        options,
        Some(caller.key_id),
    )
    .await?;
    let Some(started) = started else {
        return Ok(None);
    };
    if !started.coalesced {
        schemata_store::connections::mark_refreshing(&mut tx, connection_id).await?;
        let job = RefreshJob {
            run_id: started.run_id,
            connection_id,
        };
        let task_id = schemata_store::enqueue(&mut tx, &job).await?;
        runs::set_task_id(&mut tx, started.run_id, &task_id).await?;
        tracing::info!(connection.id = %connection_id, job.id = %started.run_id, "refresh enqueued");
    }
    tx.commit().await?;
    Ok(Some(started))
}

fn accepted(connection_id: Uuid, run_id: Uuid, status: &str, coalesced: bool) -> HttpResponse {
    let mut response = envelope::with_status(
        StatusCode::ACCEPTED,
        json!({ "job_id": run_id, "connection_id": connection_id, "status": status, "coalesced": coalesced }),
    );
    if let Ok(location) =
        header::HeaderValue::from_str(&format!("/api/connections/{connection_id}/schemas/status"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn parse_options(query: &RefreshQuery) -> Result<RefreshOptions, ApiError> {
    let hard_refresh = match query.hard_refresh.as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`hard_refresh` must be true or false, not `{other}`."
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

fn parse_max_age(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.parse::<u32>().map(i64::from).map_err(|_| {
            ApiError::BadRequest(format!(
                "`max_age` must be a number of seconds, not `{raw}`."
            ))
        })
    })
    .transpose()
}
