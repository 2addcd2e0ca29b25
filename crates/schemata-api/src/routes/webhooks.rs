//! Webhook subscriptions and their deliveries. A receiver's URL passes the same
//! access policy as a source host, here and again at every delivery.

use crate::{
    auth::{Authorized, ConnectionsRead, ConnectionsWrite},
    dto::{self, Body},
    error::ApiError,
    routes::pages::{PageQuery, id_cursor, next_cursor, page_limit},
    state::AppState,
};
use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
    web,
};
use schemata_core::{Named, WebhookEvent, WebhookUrl};
use schemata_sources::{SourceError, http};
use schemata_store::webhook_deliveries;
use schemata_store::webhooks::{self, MAX_PER_ORGANIZATION, NewWebhook};
use uuid::Uuid;

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("Webhook not found: {id}"))
}

/// Subscribes a URL to events. The signing secret is in this answer only.
#[utoipa::path(
    post, path = "/api/webhooks", tag = "webhooks",
    request_body = dto::CreateWebhook,
    responses(
        (status = 201, description = "Created; `secret` is shown this once.", body = dto::WebhookCreatedEnvelope,
            headers(("Location" = String, description = "The new webhook's URL."))),
        (status = 400, description = "Invalid URL or events, a URL the access policy refuses, or a connection not in your organization.", body = dto::ErrorEnvelope),
        (status = 409, description = "The organization has as many webhooks as it may (25).", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<dto::CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let url = check_url(&state, &body.url).await?;
    let events = check_events(body.events)?;
    if let Some(ids) = &body.connection_ids {
        if ids.is_empty() {
            return Err(ApiError::BadRequest(
                "`connection_ids` must name at least one connection, or be left out for all."
                    .into(),
            ));
        }
        let foreign =
            webhooks::foreign_connections(&state.pool, caller.organization_id, ids).await?;
        if let Some(first) = foreign.first() {
            return Err(ApiError::BadRequest(format!(
                "Connection not found: {first}"
            )));
        }
    }
    let secret = webhooks::generate_secret();
    let row = webhooks::insert(
        &state.pool,
        &state.secrets,
        caller.organization_id,
        &NewWebhook {
            url,
            events,
            connection_ids: body.connection_ids,
        },
        &secret,
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "This organization has {MAX_PER_ORGANIZATION} webhooks, the most it may have; delete one first."
        ))
    })?;
    let mut response = dto::WebhookCreatedEnvelope::new(dto::WebhookCreated::new(&row, secret))
        .respond(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/webhooks/{}", row.id))
            .map_err(anyhow::Error::from)?,
    );
    // The answer holds the secret: no cache keeps it.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// An http(s) URL whose host resolves only to addresses the access policy
/// lets us reach (the worker checks again at every attempt).
async fn check_url(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    let url = WebhookUrl::parse(raw)
        .map_err(|why| ApiError::BadRequest(format!("Invalid webhook `url`: {why}")))?;
    match http::checked_addresses(&state.policy, url.as_url()).await {
        Ok(_) => Ok(url),
        Err(SourceError::Refused) => Err(ApiError::BadRequest(
            "Webhook `url` refused by this server's access policy.".into(),
        )),
        Err(_) => Err(ApiError::BadRequest(
            "Invalid webhook `url`: its host does not resolve (it must, when the webhook is created)."
                .into(),
        )),
    }
}

fn check_events(names: Vec<String>) -> Result<Vec<WebhookEvent>, ApiError> {
    let all = || {
        WebhookEvent::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "`events` must name at least one of {}.",
            all()
        )));
    }
    let mut events = names
        .iter()
        .map(|name| {
            name.parse::<WebhookEvent>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "Unknown event `{}`: expected {}.",
                    name.chars().take(64).collect::<String>(),
                    all()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    events.sort_by_key(|e| e.as_str());
    events.dedup();
    Ok(events)
}

/// The organization's webhooks (secrets are never shown again).
#[utoipa::path(
    get, path = "/api/webhooks", tag = "webhooks",
    params(PageQuery),
    responses((status = 200, description = "A page of webhooks.", body = dto::WebhookPage)),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    caller: Authorized<ConnectionsRead>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = id_cursor(query.cursor.as_deref())?;
    let mut rows = webhooks::list(&state.pool, caller.organization_id, after, limit + 1).await?;
    let next = next_cursor(&mut rows, limit, |row| row.id.to_string());
    Ok(dto::WebhookPage::new(rows.iter().map(dto::Webhook::from).collect(), next).ok())
}

/// One webhook.
#[utoipa::path(
    get, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The webhook.", body = dto::WebhookEnvelope),
        (status = 404, description = "No such webhook in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    caller: Authorized<ConnectionsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = webhooks::get(&state.pool, caller.organization_id, *id)
        .await?
        .ok_or_else(|| not_found(*id))?;
    Ok(dto::WebhookEnvelope::new(dto::Webhook::from(&row)).ok())
}

/// Deletes a webhook; deliveries not yet sent are dropped with it.
#[utoipa::path(
    delete, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The webhook's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such webhook in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    if webhooks::delete(&state.pool, caller.organization_id, *id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found(*id))
    }
}

/// A webhook's deliveries, newest first: attempts, last response code, next try.
#[utoipa::path(
    get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The webhook's id."), PageQuery),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = dto::DeliveryPage),
        (status = 404, description = "No such webhook in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn deliveries(
    caller: Authorized<ConnectionsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let before = id_cursor(query.cursor.as_deref())?;
    webhooks::get(&state.pool, caller.organization_id, *id)
        .await?
        .ok_or_else(|| not_found(*id))?;
    let mut rows = webhook_deliveries::list(&state.pool, *id, before, limit + 1).await?;
    let next = next_cursor(&mut rows, limit, |row| row.id.to_string());
    Ok(dto::DeliveryPage::new(rows.iter().map(dto::Delivery::from).collect(), next).ok())
}
