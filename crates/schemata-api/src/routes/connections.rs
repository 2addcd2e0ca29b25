//! Managing connections: create, list, read, update, delete, test.

use crate::{
    auth::{Authorized, Caller, ConnectionsRead, ConnectionsWrite},
    dto::{self, Body},
    error::ApiError,
    health,
    idempotency::{self, Answer},
    own_connection::OwnConnectionId,
    routes::pages::{id_cursor, next_cursor, page_limit},
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use schemata_core::{CacheScope, ConnectionStatus, HealthStatus, Named, SourceConfig, SourceKind};
use schemata_store::{
    StoreError,
    connections::{self, CacheInvalidation, ConnectionFields, ConnectionRow},
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// How long a cache stays fresh when the connection does not say.
const DEFAULT_TTL_SECONDS: i32 = 900;

/// Creates a connection. Its password is sealed at rest and never shown again.
#[utoipa::path(
    post, path = "/api/connections", tag = "connections",
    request_body = dto::CreateConnection,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a repeated request with the same key (24 h).")),
    responses(
        (status = 201, description = "Created; `Location` names it.", body = dto::ConnectionEnvelope,
            headers(("Location" = String, description = "The new connection's URL."))),
        (status = 400, description = "Invalid body or configuration.", body = dto::ErrorEnvelope),
        (status = 409, description = "A connection with this name exists.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<Value>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // Canonical (sorted keys, no whitespace): the same request hashes the same.
    let canonical = serde_json::to_vec(&body).map_err(anyhow::Error::from)?;
    let body: dto::CreateConnection = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "Invalid request body: {}",
            crate::routes::without_values(&e)
        ))
    })?;
    let organization_id = caller.organization_id;
    let answering = {
        let (caller, state) = (caller.clone(), state.clone());
        async move { insert(&caller, &state, body).await }
    };
    idempotency::once(state, organization_id, &request, &canonical, answering).await
}

async fn insert(
    caller: &Caller,
    state: &AppState,
    body: dto::CreateConnection,
) -> Result<Answer, ApiError> {
    let kind: SourceKind = body
        .kind
        .parse()
        .map_err(|e: schemata_core::UnknownName| ApiError::BadRequest(e.to_string()))?;
    let config = parse_configuration(kind, &body.configuration)?
        .for_new_connection()
        .map_err(bad_configuration)?;
    let fields = validate(ConnectionFields {
        name: body.name,
        kind,
        config,
        status: parse_status(body.status.as_deref().unwrap_or("active"))?,
        schema_filter: body.schema_filter,
        table_allowlist: body.table_allowlist,
        refresh_ttl_seconds: body.refresh_ttl_seconds.or(Some(DEFAULT_TTL_SECONDS)),
        auto_refresh: body.auto_refresh,
        refresh_schedule: body.refresh_schedule,
        refresh_timezone: body
            .refresh_timezone
            .unwrap_or_else(|| schemata_core::refresh_schedule::DEFAULT_TIMEZONE.to_owned()),
        refresh_on_read: body.refresh_on_read,
    })?;
    let row = connections::insert(&state.pool, &state.secrets, caller.organization_id, &fields)
        .await
        .map_err(|e| duplicate_name(e, &fields.name))?;
    let mut answer = Answer::of(
        StatusCode::CREATED,
        &dto::ConnectionEnvelope::new(dto::Connection::from(&row)),
    );
    answer.location = Some(format!("/api/connections/{}", row.id));
    Ok(answer)
}

/// `GET /api/connections`: a page, and what to add to each connection.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `status`: each connection's status document (the body of
    /// `GET …/schemas/status`) as `schema_status`, in the same one query.
    pub include: Option<String>,
}

/// Lists the organization's connections (with `?include=status`, each with
/// its status: one request for a page like the operator page's).
#[utoipa::path(
    get, path = "/api/connections", tag = "connections",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of connections.", body = dto::ConnectionPage),
        (status = 400, description = "Invalid limit, cursor or include.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    caller: Authorized<ConnectionsRead>,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = id_cursor(query.cursor.as_deref())?;
    let with_status = match query.include.as_deref() {
        None | Some("") => false,
        Some("status") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`include` may only be `status`, not `{}`.",
                other.chars().take(64).collect::<String>()
            )));
        }
    };
    if with_status {
        let mut rows =
            schemata_store::status::page(&state.pool, caller.organization_id, after, limit + 1)
                .await?;
        let next_cursor = next_cursor(&mut rows, limit, |row| row.connection.id.to_string());
        let now = chrono::Utc::now();
        let page = rows
            .iter()
            .map(|row| {
                dto::Connection::from(&row.connection).with_status(dto::Status::at(row, now))
            })
            .collect();
        return Ok(dto::ConnectionPage::new(page, next_cursor).ok());
    }
    let mut rows = connections::list(&state.pool, caller.organization_id, after, limit + 1).await?;
    let next_cursor = next_cursor(&mut rows, limit, |row| row.id.to_string());
    let page = rows.iter().map(dto::Connection::from).collect();
    Ok(dto::ConnectionPage::new(page, next_cursor).ok())
}

/// One connection.
#[utoipa::path(
    get, path = "/api/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    responses(
        (status = 200, description = "The connection.", body = dto::ConnectionEnvelope),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    _caller: Authorized<ConnectionsRead>,
    state: web::Data<AppState>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let row = connection.load(&state).await?;
    Ok(dto::ConnectionEnvelope::new(dto::Connection::from(&row)).ok())
}

/// Changes a connection. A new `configuration` takes effect at the next refresh.
#[utoipa::path(
    patch, path = "/api/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    request_body = dto::UpdateConnection,
    responses(
        (status = 200, description = "The connection as it is now.", body = dto::ConnectionEnvelope),
        (status = 400, description = "Invalid field, or a kept password sent to another host.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
        (status = 409, description = "The name is taken.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn update(
    _caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let row = connection.load(&state).await?;
    let kind = row.kind;
    let mut patch = body.into_inner();
    if let Some(kind_sent) = patch.remove("type")
        && kind_sent != json!(kind.as_str())
    {
        return Err(ApiError::BadRequest(
            "`type` cannot be changed; create a new connection instead.".into(),
        ));
    }
    let sent_config = patch
        .remove("configuration")
        .map(|value| parse_configuration(kind, &value))
        .transpose()?;
    // Stored credentials that cannot be read (a rotated key, a rule tightened
    // since) can be replaced by sending a whole new configuration.
    let previous = match connections::source_config(&state.pool, &state.secrets, row.id).await {
        Ok(config) => Some(config),
        Err(StoreError::Decrypt | StoreError::StaleConfiguration(_)) if sent_config.is_some() => {
            None
        }
        Err(error) => return Err(error.into()),
    };
    let config = match (sent_config, &previous) {
        (Some(sent), Some(previous)) => sent
            .keep_password_from(previous)
            .map_err(bad_configuration)?,
        (Some(sent), None) => sent.for_new_connection().map_err(bad_configuration)?,
        (None, Some(previous)) => previous.clone(),
        (None, None) => return Err(ApiError::CredentialsUnreadable),
    };
    let mut fields = ConnectionFields {
        name: row.name.clone(),
        kind,
        config,
        status: row.status,
        schema_filter: row.schema_filter.clone(),
        table_allowlist: row.table_allowlist.clone(),
        refresh_ttl_seconds: row.refresh_ttl_seconds,
        auto_refresh: row.auto_refresh,
        refresh_schedule: row.refresh_schedule.clone(),
        refresh_timezone: row.refresh_timezone.clone(),
        refresh_on_read: row.refresh_on_read,
    };
    for (key, value) in patch {
        apply_patch(&mut fields, &key, value)?;
    }
    let fields = validate(fields)?;
    let invalidation = invalidation(&row, previous.as_ref(), &fields)?;
    let updated = connections::update(&state.pool, &state.secrets, &row, &fields, &invalidation)
        .await
        .map_err(|e| duplicate_name(e, &fields.name))?;
    Ok(dto::ConnectionEnvelope::new(dto::Connection::from(&updated)).ok())
}

/// What a change takes from the cache: objects outside a new scope go at
/// once; another source or a wider scope leaves the cache `stale`.
fn invalidation(
    row: &ConnectionRow,
    previous: Option<&SourceConfig>,
    fields: &ConnectionFields,
) -> Result<CacheInvalidation, ApiError> {
    let configuration_changed = previous != Some(&fields.config);
    // What each configuration lets the scope hold (a MySQL URL's database
    // narrows it): a new URL can narrow the cache as a new filter does.
    let stored = row.scope()?;
    let before = previous.map_or_else(|| stored.clone(), |config| config.effective_scope(&stored));
    let after = fields.config.effective_scope(
        &CacheScope::parse(fields.schema_filter.clone(), fields.table_allowlist.clone())
            .map_err(ApiError::BadRequest)?,
    );
    let stale_reason = if configuration_changed {
        Some("The connection's configuration changed; the cache shows what was read before.")
    } else if !after.is_within(&before) {
        Some("The connection's filters were widened; what they now admit is not cached yet.")
    } else {
        None
    };
    Ok(CacheInvalidation {
        configuration_changed,
        scope: (after != before).then_some(after),
        stale_reason: stale_reason.map(str::to_owned),
    })
}

fn apply_patch(fields: &mut ConnectionFields, key: &str, value: Value) -> Result<(), ApiError> {
    let bad = |what: &str| ApiError::BadRequest(format!("`{key}` must be {what}."));
    match key {
        "name" => fields.name = value.as_str().ok_or_else(|| bad("a string"))?.to_owned(),
        "status" => {
            fields.status = parse_status(
                value
                    .as_str()
                    .ok_or_else(|| bad("`active` or `disabled`"))?,
            )?;
        }
        "schema_filter" => {
            fields.schema_filter =
                serde_json::from_value(value).map_err(|_| bad("a list of strings"))?;
        }
        "table_allowlist" => {
            fields.table_allowlist =
                serde_json::from_value(value).map_err(|_| bad("a list of strings"))?;
        }
        "refresh_ttl_seconds" => {
            fields.refresh_ttl_seconds =
                serde_json::from_value(value).map_err(|_| bad("a positive integer or null"))?;
        }
        "auto_refresh" => fields.auto_refresh = value.as_bool().ok_or_else(|| bad("a boolean"))?,
        "refresh_schedule" => {
            fields.refresh_schedule = serde_json::from_value(value)
                .map_err(|_| bad("a cron expression (a string) or null"))?;
        }
        "refresh_timezone" => {
            fields.refresh_timezone = match value {
                Value::Null => schemata_core::refresh_schedule::DEFAULT_TIMEZONE.to_owned(),
                Value::String(zone) => zone,
                _ => return Err(bad("an IANA time zone name (a string)")),
            };
        }
        "refresh_on_read" => {
            fields.refresh_on_read = value.as_bool().ok_or_else(|| bad("a boolean"))?;
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "Unknown field `{}`.",
                key.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// Deletes a connection with its cache and history.
#[utoipa::path(
    delete, path = "/api/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    if connections::delete(&state.pool, caller.organization_id, *id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::connection_not_found(*id))
    }
}

/// Checks now that the source answers with these credentials.
#[utoipa::path(
    post, path = "/api/connections/{id}/test", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id.")),
    responses(
        (status = 200, description = "The outcome (an unhealthy source is a 200 too).", body = dto::HealthCheckEnvelope),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn test(
    _caller: Authorized<ConnectionsWrite>,
    state: web::Data<AppState>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let row = connection.load(&state).await?;
    let outcome = health::check(&state, &row).await?;
    Ok(dto::HealthCheckEnvelope::new(dto::HealthCheck {
        health: HealthStatus::of(outcome.healthy),
        message: outcome.message,
        checked_at: outcome.checked_at,
        latency_ms: outcome.latency_ms,
    })
    .ok())
}

fn parse_configuration(kind: SourceKind, raw: &Value) -> Result<SourceConfig, ApiError> {
    if !schemata_sources::supports(kind) {
        return Err(ApiError::BadRequest(format!(
            "Source type `{kind}` is not supported by this version of Schemata yet."
        )));
    }
    SourceConfig::parse(kind, raw).map_err(bad_configuration)
}

fn bad_configuration(error: schemata_core::SourceConfigError) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

/// Checks and normalizes everything a client can set.
fn validate(fields: ConnectionFields) -> Result<ConnectionFields, ApiError> {
    let name = fields.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 200 characters, without control characters.".into(),
        ));
    }
    if fields.refresh_ttl_seconds.is_some_and(|ttl| ttl <= 0) {
        return Err(ApiError::BadRequest(
            "`refresh_ttl_seconds` must be a positive number of seconds.".into(),
        ));
    }
    let refresh_timezone = fields.refresh_timezone.trim().to_owned();
    schemata_core::refresh_schedule::parse_timezone(&refresh_timezone)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let refresh_schedule = fields
        .refresh_schedule
        .as_deref()
        .map(str::trim)
        .map(|expression| {
            schemata_core::RefreshSchedule::parse(expression, &refresh_timezone)
                .map(|_| expression.to_owned())
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()?;
    let scope = CacheScope::parse(fields.schema_filter, fields.table_allowlist)
        .map_err(ApiError::BadRequest)?;
    fields
        .config
        .check_scope(&scope)
        .map_err(bad_configuration)?;
    Ok(ConnectionFields {
        name,
        refresh_schedule,
        refresh_timezone,
        schema_filter: scope.schema_filter.names().to_vec(),
        table_allowlist: scope.table_allowlist.entries(),
        ..fields
    })
}

fn parse_status(raw: &str) -> Result<ConnectionStatus, ApiError> {
    ConnectionStatus::parse_name(raw)
        .map_err(|_| ApiError::BadRequest("`status` must be `active` or `disabled`.".into()))
}

fn duplicate_name(error: StoreError, name: &str) -> ApiError {
    if error.is_unique_violation() {
        ApiError::Conflict(format!("A connection named `{name}` already exists."))
    } else {
        error.into()
    }
}
