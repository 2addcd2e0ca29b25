//! Reading the cached schema: the object list (with ETag) and one object in full.

use crate::{
    auth::{Authorized, SchemasRead},
    dto::{self, Body},
    error::ApiError,
    own_connection::OwnConnectionId,
    routes::pages::{next_cursor, page_limit},
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use schemata_core::{ObjectOverrides, SchemaId, SchemaObject};
use schemata_store::{cache, connections::ConnectionRow, overrides};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only objects of this schema.
    schema: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The cached objects (tables, views…), without their fields.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ListQuery, ("If-None-Match" = Option<String>, Header, description = "The `ETag` you hold: 304 when the schema version is unchanged.")),
    responses(
        (status = 200, description = "A page of objects.", body = dto::ObjectPage,
            headers(("ETag" = String, description = "The schema version."))),
        (status = 304, description = "Unchanged since the `ETag` sent."),
        (status = 404, description = "No such connection in your organization.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    _caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
    request: HttpRequest,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let row = connection.load(&state).await?;
    crate::revalidate::on_read(&state, &row).await;
    let etag = effective_version(&state, &row)
        .await?
        .map(|v| format!("\"{v}\""));
    if let Some(etag) = &etag
        && if_none_match(&request, etag)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.as_str()))
            .finish());
    }
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let mut rows = cache::list_objects(
        &state.pool,
        row.id,
        query.schema.as_deref(),
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let next_cursor = next_cursor(&mut rows, limit, |o| encode_cursor(&o.schema_name, &o.name));
    let page = rows.iter().map(dto::ObjectSummary::from).collect();
    let response = dto::ObjectPage::new(page, next_cursor).ok();
    Ok(with_etag(response, etag.as_deref()))
}

/// One cached object with its fields, keys and indexes, overrides applied.
#[utoipa::path(
    get, path = "/api/connections/{id}/schemas/{schema_id}", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it."), ("If-None-Match" = Option<String>, Header, description = "The `ETag` you hold: 304 when the schema version is unchanged.")),
    responses(
        (status = 200, description = "The object.", body = dto::ObjectEnvelope,
            headers(("ETag" = String, description = "The schema version."))),
        (status = 304, description = "Unchanged since the `ETag` sent."),
        (status = 400, description = "Invalid `schema_id`.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection or object.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    _caller: Authorized<SchemasRead>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    request: HttpRequest,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id) = path.into_inner();
    let row = connection.load(&state).await?;
    crate::revalidate::on_read(&state, &row).await;
    // Loaded first: a 304 is only for an object that exists.
    let (object, overrides) = load_object(&state, &row, &raw_schema_id).await?;
    let etag = effective_version(&state, &row)
        .await?
        .map(|v| format!("\"{v}\""));
    if let Some(etag) = &etag
        && if_none_match(&request, etag)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.as_str()))
            .finish());
    }
    let view = schemata_core::effective(&object, &overrides);
    let detail = dto::ObjectEnvelope::new(dto::ObjectDetail::of(&object, &view));
    Ok(with_etag(detail.ok(), etag.as_deref()))
}

/// The version clients see (overrides included), or none before a first refresh.
pub(crate) async fn effective_version(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Option<String>, ApiError> {
    let Some(detected) = &row.schema_version else {
        return Ok(None);
    };
    let digest = overrides::digest(&state.pool, row.id).await?;
    Ok(Some(schemata_core::effective_version(
        detected,
        Some(&digest),
    )))
}

/// A cached object and the user's overrides of it; 404 when not cached.
pub(crate) async fn load_object(
    state: &AppState,
    row: &ConnectionRow,
    raw_schema_id: &str,
) -> Result<(SchemaObject, ObjectOverrides), ApiError> {
    // The path extractor has already percent-decoded the segment (`%2F` too).
    let schema_id = SchemaId::parse(raw_schema_id).map_err(ApiError::BadRequest)?;
    let object = cache::get_object(&state.pool, row.id, &schema_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Object not found in the cached schema: {schema_id}"
            ))
        })?;
    let overrides = overrides::of_object(&state.pool, row.id, &schema_id).await?;
    Ok((object, overrides))
}

/// `response` with `ETag: "<version>"`.
pub(crate) fn with_etag(mut response: HttpResponse, etag: Option<&str>) -> HttpResponse {
    if let Some(etag) = etag
        && let Ok(value) = header::HeaderValue::from_str(etag)
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub(crate) fn if_none_match(request: &HttpRequest, etag: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| {
            candidate == etag || candidate == "*" || candidate.strip_prefix("W/") == Some(etag)
        })
}

/// Cursors are opaque to clients: hex of `schema NUL name`.
fn encode_cursor(schema: &str, name: &str) -> String {
    hex::encode(format!("{schema}\0{name}"))
}

fn decode_cursor(raw: &str) -> Result<SchemaId, ApiError> {
    let invalid = || ApiError::BadRequest(format!("Invalid cursor `{raw}`."));
    let bytes = hex::decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (schema, name) = text.split_once('\0').ok_or_else(invalid)?;
    if name.contains('\0') {
        return Err(invalid());
    }
    Ok(SchemaId::new(schema, name))
}
