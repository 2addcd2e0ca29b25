//! `GET /api/connections/{id}/schemas/status`: what clients poll after a 202.
//! One query per request (see `schemata_store::status`), or none while the
//! status cache holds it.

use crate::{
    auth::{Authorized, SchemasRead},
    dto::{self, Body},
    error::ApiError,
    state::AppState,
};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use schemata_store::status as snapshots;
use uuid::Uuid;

/// The cache's status and the run in progress: what clients poll after a 202.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/status", tag = "refresh",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    responses(
        (status = 200, description = "The status.", body = dto::StatusEnvelope),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn status(
    caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (status, row) = current_with_row(&state, caller.organization_id, *id).await?;
    // What the read queued shows at once: `refreshing`, with its job.
    if crate::revalidate::on_read(&state, &row.connection).await
        && let Some(row) = snapshots::snapshot(&state.pool, caller.organization_id, *id).await?
    {
        return Ok(dto::StatusEnvelope::new(dto::Status::at(&row, Utc::now())).ok());
    }
    Ok(dto::StatusEnvelope::new(status).ok())
}

/// The status document of connection `id` of `organization_id` (404 when it
/// is not theirs).
pub(crate) async fn current(
    state: &AppState,
    organization_id: Uuid,
    id: Uuid,
) -> Result<dto::Status, ApiError> {
    Ok(current_with_row(state, organization_id, id).await?.0)
}

/// [`current`], with the row it was built from.
async fn current_with_row(
    state: &AppState,
    organization_id: Uuid,
    id: Uuid,
) -> Result<(dto::Status, std::sync::Arc<snapshots::StatusRow>), ApiError> {
    let cached = state
        .status_cache
        .get(id)
        .filter(|row| row.connection.organization_id == organization_id);
    let snapshot = match cached {
        Some(row) => row,
        None => {
            let epoch = state.status_cache.epoch();
            let row = std::sync::Arc::new(
                snapshots::snapshot(&state.pool, organization_id, id)
                    .await?
                    .ok_or_else(|| ApiError::connection_not_found(id))?,
            );
            state.status_cache.put(epoch, row.clone());
            row
        }
    };
    Ok((dto::Status::at(&snapshot, Utc::now()), snapshot))
}
