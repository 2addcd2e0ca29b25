//! Managing connections: create, list, read, update, delete, test.

use crate::{auth::Caller, envelope, error::ApiError, health, state::AppState, views};
use actix_web::{HttpResponse, http::StatusCode, web};
use schemata_core::{SchemaFilter, Scope, SourceConfig, SourceKind, TableAllowlist};
use schemata_sources::SourceLimits;
use schemata_store::connections::{self, ConnectionFields, ConnectionRow};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateConnection {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    configuration: Value,
    #[serde(default)]
    schema_filter: Vec<String>,
    #[serde(default)]
    table_allowlist: Vec<String>,
    refresh_ttl_seconds: Option<i32>,
    #[serde(default)]
    auto_refresh: bool,
    status: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Loads a connection of the caller's organization; another's is "not found".
pub(crate) async fn load(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<ConnectionRow, ApiError> {
    connections::get(&state.pool, caller.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::connection_not_found(id))
}

pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateConnection>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsWrite)?;
    let body = body.into_inner();
    let kind: SourceKind = body.kind.parse().map_err(ApiError::BadRequest)?;
    let fields = validate(
        body.name,
        kind,
        SourceConfig::parse(kind, &body.configuration)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        body.status.unwrap_or_else(|| "active".into()),
        body.schema_filter,
        body.table_allowlist,
        body.refresh_ttl_seconds,
        body.auto_refresh,
    )?;
    let row = connections::insert(&state.pool, &state.secrets, caller.organization_id, &fields)
        .await
        .map_err(|e| duplicate_name(e, &fields.name))?;
    Ok(envelope::with_status(
        StatusCode::CREATED,
        views::connection(&row),
    ))
}

pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsRead)?;
    let limit = page_limit(query.limit)?;
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| ApiError::BadRequest(format!("Invalid cursor `{raw}`.")))?,
        ),
    };
    let mut rows = connections::list(&state.pool, caller.organization_id, after, limit + 1).await?;
    let next_cursor = next_cursor(&mut rows, limit, |row| row.id.to_string());
    Ok(envelope::list(
        rows.iter().map(views::connection).collect::<Vec<_>>(),
        next_cursor,
    ))
}

pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsRead)?;
    let row = load(&state, &caller, *id).await?;
    Ok(envelope::ok(views::connection(&row)))
}

pub(crate) async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsWrite)?;
    let row = load(&state, &caller, *id).await?;
    let kind = row.source_kind()?;
    let mut patch = body.into_inner();
    if let Some(kind_sent) = patch.remove("type")
        && kind_sent != json!(row.kind)
    {
        return Err(ApiError::BadRequest(
            "`type` cannot be changed; create a new connection instead.".into(),
        ));
    }
    // Unreadable credentials (a rotated key) can be repaired by sending a new configuration.
    let sent_config = patch
        .remove("configuration")
        .map(|value| {
            SourceConfig::parse(kind, &value).map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()?;
    let previous = match connections::source_config(&state.pool, &state.secrets, row.id).await {
        Ok(config) => Some(config),
        Err(schemata_store::StoreError::Decrypt) if sent_config.is_some() => None,
        Err(error) => return Err(error.into()),
    };
    let config = match (sent_config, &previous) {
        (Some(sent), Some(previous)) => sent.keep_password_from(previous),
        (Some(sent), None) => sent,
        (None, Some(previous)) => previous.clone(),
        (None, None) => return Err(ApiError::CredentialsUnreadable),
    };
    let mut fields = ConnectionFields {
        name: row.name.clone(),
        kind,
        config,
        status: row.status.clone(),
        schema_filter: row.schema_filter.clone(),
        table_allowlist: row.table_allowlist.clone(),
        refresh_ttl_seconds: row.refresh_ttl_seconds,
        auto_refresh: row.auto_refresh,
    };
    for (key, value) in patch {
        let bad = |what: &str| ApiError::BadRequest(format!("`{key}` must be {what}."));
        match key.as_str() {
            "name" => fields.name = value.as_str().ok_or_else(|| bad("a string"))?.to_owned(),
            "status" => {
                fields.status = value
                    .as_str()
                    .ok_or_else(|| bad("`active` or `disabled`"))?
                    .to_owned()
            }
            "schema_filter" => {
                fields.schema_filter =
                    serde_json::from_value(value).map_err(|_| bad("a list of strings"))?
            }
            "table_allowlist" => {
                fields.table_allowlist =
                    serde_json::from_value(value).map_err(|_| bad("a list of strings"))?
            }
            "refresh_ttl_seconds" => {
                fields.refresh_ttl_seconds =
                    serde_json::from_value(value).map_err(|_| bad("a positive integer or null"))?;
            }
            "auto_refresh" => {
                fields.auto_refresh = value.as_bool().ok_or_else(|| bad("a boolean"))?
            }
            _ => return Err(ApiError::BadRequest(format!("Unknown field `{key}`."))),
        }
    }
    let fields = validate(
        fields.name,
        kind,
        fields.config,
        fields.status,
        fields.schema_filter,
        fields.table_allowlist,
        fields.refresh_ttl_seconds,
        fields.auto_refresh,
    )?;
    let configuration_changed = previous.as_ref() != Some(&fields.config);
    let updated = connections::update(
        &state.pool,
        &state.secrets,
        &row,
        &fields,
        configuration_changed,
    )
    .await
    .map_err(|e| duplicate_name(e, &fields.name))?;
    Ok(envelope::ok(views::connection(&updated)))
}

pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsWrite)?;
    if connections::delete(&state.pool, caller.organization_id, *id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::connection_not_found(*id))
    }
}

pub(crate) async fn test(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::ConnectionsWrite)?;
    let row = load(&state, &caller, *id).await?;
    let outcome = health::check(&state, &row).await?;
    Ok(envelope::ok(json!({
        "health": if outcome.healthy { "healthy" } else { "unhealthy" },
        "message": outcome.message,
        "checked_at": views::timestamp(Some(outcome.checked_at)),
        "latency_ms": outcome.latency_ms,
    })))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per client-settable field, named at both call sites"
)]
fn validate(
    name: String,
    kind: SourceKind,
    config: SourceConfig,
    status: String,
    schema_filter: Vec<String>,
    table_allowlist: Vec<String>,
    refresh_ttl_seconds: Option<i32>,
    auto_refresh: bool,
) -> Result<ConnectionFields, ApiError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 200 characters.".into(),
        ));
    }
    if !matches!(status.as_str(), "active" | "disabled") {
        return Err(ApiError::BadRequest(
            "`status` must be `active` or `disabled`.".into(),
        ));
    }
    if refresh_ttl_seconds.is_some_and(|ttl| ttl <= 0) {
        return Err(ApiError::BadRequest(
            "`refresh_ttl_seconds` must be a positive number of seconds.".into(),
        ));
    }
    let url = config
        .connect_url(kind)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Refuse kinds this build cannot read, and URLs the driver would reject, now
    // rather than at the first refresh.
    schemata_sources::connect(kind, &url, SourceLimits::default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(ConnectionFields {
        name,
        kind,
        config,
        status,
        schema_filter: SchemaFilter::parse(schema_filter)
            .map_err(ApiError::BadRequest)?
            .names()
            .to_vec(),
        table_allowlist: TableAllowlist::parse(table_allowlist)
            .map_err(ApiError::BadRequest)?
            .entries()
            .to_vec(),
        refresh_ttl_seconds,
        auto_refresh,
    })
}

fn duplicate_name(error: schemata_store::StoreError, name: &str) -> ApiError {
    if error.is_unique_violation() {
        ApiError::Conflict(format!("A connection named `{name}` already exists."))
    } else {
        error.into()
    }
}

pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_PAGE}."
        ))),
    }
}

/// Trims the extra row fetched to learn whether another page exists.
pub(crate) fn next_cursor<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    }
}
