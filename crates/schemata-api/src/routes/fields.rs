//! User fields, field overrides and primary key overrides of a cached object,
//! in our request shapes and in those of Polytomic's SDKs.

use crate::{
    auth::{Authorized, SchemasWrite},
    dto::{self, Body, FlaggedKey, PrimaryKeyInput, UserFieldInput},
    error::ApiError,
    own_connection::OwnConnectionId,
    routes::cache::load_object,
    state::AppState,
};
use actix_web::{HttpResponse, web};
use schemata_core::{
    FieldOverride, FieldType, ObjectOverrides, SchemaId, SchemaObject, effective,
    overrides::parse_field_type,
};
use schemata_store::overrides;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Most user fields one request may upsert.
const MAX_FIELDS_PER_REQUEST: usize = 500;
/// Longest id, name, label or path.
const MAX_TEXT: usize = 255;
/// Most user fields and overrides on one object, and on one connection: every
/// read of the object merges them, every version hashes them.
const MAX_PER_OBJECT: i64 = 1000;
const MAX_PER_CONNECTION: i64 = 20_000;
/// Largest `example` or `definition`, as JSON text.
const MAX_JSON_BYTES: usize = 16 * 1024;
/// Most fields in a primary key.
const MAX_KEY_FIELDS: usize = 64;

/// `POST …/schemas/{schema_id}/fields`: creates or replaces user fields, matched by id.
#[utoipa::path(
    post, path = "/api/connections/{id}/schemas/{schema_id}/fields", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it.")),
    request_body = dto::UpsertFields,
    responses(
        (status = 200, description = "The object, with the fields.", body = dto::ObjectEnvelope),
        (status = 400, description = "A field is invalid; none was written.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection or object.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn upsert(
    _caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    body: web::Json<dto::UpsertFields>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let (object, existing) = load_object(&state, &row, &raw_schema_id).await?;
    let fields = body.into_inner().fields;
    if fields.is_empty() || fields.len() > MAX_FIELDS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "`fields` must hold 1 to {MAX_FIELDS_PER_REQUEST} fields."
        )));
    }
    let mut seen = Vec::with_capacity(fields.len());
    let mut validated = Vec::with_capacity(fields.len());
    for (index, input) in fields.into_iter().enumerate() {
        let field = user_field(&object, &existing, input)
            .map_err(|message| ApiError::BadRequest(format!("fields[{index}]: {message}")))?;
        if seen.contains(&field.field_id) {
            return Err(ApiError::BadRequest(format!(
                "fields[{index}]: `{}` appears twice in this request.",
                field.field_id
            )));
        }
        seen.push(field.field_id.clone());
        validated.push(field);
    }
    let added = validated
        .iter()
        .filter(|f| !existing.fields.iter().any(|o| o.field_id == f.field_id))
        .count();
    check_room(&state, row.id, &object, added).await?;
    let schema_id = object.id();
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(schemata_store::StoreError::from)?;
    for field in &validated {
        overrides::upsert_field(&mut *tx, row.id, &schema_id, field).await?;
    }
    tx.commit()
        .await
        .map_err(schemata_store::StoreError::from)?;
    object_response(&state, row.id, &object).await
}

/// Refuses `added` new overrides past the limits.
async fn check_room(
    state: &AppState,
    connection_id: Uuid,
    object: &SchemaObject,
    added: usize,
) -> Result<(), ApiError> {
    if added == 0 {
        return Ok(());
    }
    let added = i64::try_from(added).unwrap_or(i64::MAX);
    let (on_connection, on_object) =
        overrides::counts(&state.pool, connection_id, &object.id()).await?;
    if on_object + added > MAX_PER_OBJECT || on_connection + added > MAX_PER_CONNECTION {
        return Err(ApiError::BadRequest(format!(
            "Too many user fields and overrides: at most {MAX_PER_OBJECT} on one object and \
             {MAX_PER_CONNECTION} on one connection ({on_object} on {}, {on_connection} on the connection).",
            object.id()
        )));
    }
    Ok(())
}

fn check_json(what: &str, value: &Option<Value>) -> Result<(), String> {
    let size = value.as_ref().map_or(0, |v| {
        serde_json::to_string(v).map_or(usize::MAX, |t| t.len())
    });
    if size > MAX_JSON_BYTES {
        return Err(format!("`{what}` is larger than {MAX_JSON_BYTES} bytes."));
    }
    Ok(())
}

fn user_field(
    object: &SchemaObject,
    existing: &ObjectOverrides,
    input: UserFieldInput,
) -> Result<FieldOverride, String> {
    let field_id = input
        .field_id
        .clone()
        .or_else(|| input.name.clone())
        .ok_or("give the field a `field_id` or a `name`.")?;
    check_text("field_id", &field_id, false)?;
    if let Some(name) = &input.name {
        check_text("name", name, false)?;
    }
    if object.fields.iter().any(|f| f.name == field_id) {
        return Err(format!(
            "`{field_id}` is a detected field: PATCH …/fields/{field_id} to override its label or type."
        ));
    }
    if existing
        .fields
        .iter()
        .any(|o| o.field_id == field_id && o.source_field.is_some())
    {
        return Err(format!(
            "`{field_id}` is the override of a field the source no longer has: PATCH or DELETE …/fields/{field_id}."
        ));
    }
    check_json("example", &input.example)?;
    check_json("definition", &input.definition)?;
    Ok(FieldOverride {
        display_name: input.name.filter(|n| *n != field_id),
        field_id,
        source_field: None,
        label: optional_text("label", input.label)?,
        field_type: Some(field_type(&input.field_type)?),
        path: optional_text("path", input.path)?,
        source_type_at_override: None,
        example: input.example,
        definition: input.definition,
    })
}

/// `PATCH …/schemas/{schema_id}/fields/{field_id}`: overrides `label`, `type`
/// or `path` of a detected field, or changes a user field. A key left out is
/// kept; `null` or `""` clears it.
#[utoipa::path(
    patch, path = "/api/connections/{id}/schemas/{schema_id}/fields/{field_id}", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it."), ("field_id" = String, Path, description = "The field's id (its name for a detected field).")),
    request_body = dto::PatchField,
    responses(
        (status = 200, description = "The field as clients now see it.", body = dto::FieldEnvelope),
        (status = 400, description = "Invalid value.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection, object or field.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn patch(
    _caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String, String)>,
    body: web::Json<Map<String, Value>>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id, field_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let (object, existing) = load_object(&state, &row, &raw_schema_id).await?;
    let detected = object.fields.iter().find(|f| f.name == field_id);
    let current = existing.fields.iter().find(|o| o.field_id == field_id);
    let mut field = match (current, detected) {
        (Some(current), _) => current.clone(),
        (None, Some(detected)) => FieldOverride {
            field_id: detected.name.clone(),
            source_field: Some(detected.name.clone()),
            display_name: None,
            label: None,
            field_type: None,
            path: None,
            source_type_at_override: None,
            example: None,
            definition: None,
        },
        (None, None) => return Err(field_not_found(&object, &field_id)),
    };
    if current.is_none() {
        check_room(&state, row.id, &object, 1).await?;
    }
    for (key, value) in body.into_inner() {
        let bad = |message: String| ApiError::BadRequest(format!("`{key}`: {message}"));
        let text = match &value {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            _ if matches!(key.as_str(), "example" | "definition") => None,
            _ => return Err(bad("must be a string or null.".into())),
        };
        match key.as_str() {
            "label" => field.label = optional_text("label", text).map_err(bad)?,
            "path" => field.path = optional_text("path", text).map_err(bad)?,
            "type" => {
                field.field_type = text.map(|t| field_type(&t)).transpose().map_err(bad)?;
                if field.source_field.is_none() && field.field_type.is_none() {
                    return Err(bad("a user field needs a type.".into()));
                }
            }
            "example" => {
                field.example = Some(value).filter(|v| !v.is_null());
                check_json("example", &field.example).map_err(bad)?;
            }
            "definition" => {
                field.definition = Some(value).filter(|v| !v.is_null());
                check_json("definition", &field.definition).map_err(bad)?;
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown field `{}`: send label, type, path, example or definition.",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    // Overriding again acknowledges the source's current type: a
    // `source_type_changed` conflict clears.
    if let Some(detected) = detected {
        field.source_type_at_override = Some(detected.remote_type.clone());
    }
    overrides::upsert_field(&state.pool, row.id, &object.id(), &field).await?;
    let view = effective(
        &object,
        &overrides::of_object(&state.pool, row.id, &object.id()).await?,
    );
    // Last match: a user field whose id the source reused comes after the
    // detected one, and it is the one a PATCH of an existing field changed.
    let shown = view
        .fields
        .iter()
        .rev()
        .find(|f| f.id == field_id && (current.is_none() || f.user_managed))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the patched field is not in view")))?;
    Ok(dto::FieldEnvelope::new(dto::Field::from(shown)).ok())
}

/// `DELETE …/schemas/{schema_id}/fields/{field_id}`: removes a user field, or
/// an override (the detected field shows its detected values again).
#[utoipa::path(
    delete, path = "/api/connections/{id}/schemas/{schema_id}/fields/{field_id}", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it."), ("field_id" = String, Path, description = "The field's id (its name for a detected field).")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No such connection, object or field.", body = dto::ErrorEnvelope),
        (status = 409, description = "A detected field without override cannot be deleted.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    _caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String, String)>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id, field_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let (object, _) = load_object(&state, &row, &raw_schema_id).await?;
    if overrides::delete_field(&state.pool, row.id, &object.id(), &field_id).await? {
        return Ok(HttpResponse::NoContent().finish());
    }
    if object.fields.iter().any(|f| f.name == field_id) {
        return Err(ApiError::Conflict(format!(
            "`{field_id}` is a detected field without an override: refreshes manage it, it cannot be deleted."
        )));
    }
    Err(field_not_found(&object, &field_id))
}

/// `PUT …/schemas/{schema_id}/primary_keys`: the object's primary key is now
/// these fields, in this order. An empty list resets to the detected key.
#[utoipa::path(
    put, path = "/api/connections/{id}/schemas/{schema_id}/primary_keys", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it.")),
    request_body = dto::PrimaryKeys,
    responses(
        (status = 200, description = "The object with its key.", body = dto::ObjectEnvelope),
        (status = 400, description = "Unknown or repeated field.", body = dto::ErrorEnvelope),
        (status = 404, description = "No such connection or object.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn set_primary_keys(
    _caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    body: web::Json<dto::PrimaryKeys>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let (object, existing) = load_object(&state, &row, &raw_schema_id).await?;
    let keys: Vec<String> = body
        .into_inner()
        .fields
        .into_iter()
        .filter_map(|input| match input {
            PrimaryKeyInput::Name(name) => Some(name),
            PrimaryKeyInput::Flagged(FlaggedKey {
                field_id,
                is_primary_key,
            }) => is_primary_key.then_some(field_id),
        })
        .collect();
    if keys.len() > MAX_KEY_FIELDS {
        return Err(ApiError::BadRequest(format!(
            "A primary key has at most {MAX_KEY_FIELDS} fields."
        )));
    }
    let schema_id = object.id();
    if keys.is_empty() {
        overrides::reset_primary_keys(&state.pool, row.id, &schema_id).await?;
        return object_response(&state, row.id, &object).await;
    }
    let view = effective(
        &object,
        &ObjectOverrides {
            primary_keys: None,
            ..existing
        },
    );
    for (index, key) in keys.iter().enumerate() {
        if keys[..index].contains(key) {
            return Err(ApiError::BadRequest(format!(
                "`{key}` appears twice in the primary key."
            )));
        }
        if !view.fields.iter().any(|f| &f.id == key && f.can_be_a_key()) {
            return Err(ApiError::BadRequest(format!(
                "`{}` is not a field of {}: a primary key is made of its fields.",
                key.chars().take(MAX_TEXT).collect::<String>(),
                object.id()
            )));
        }
    }
    overrides::set_primary_keys(&state.pool, row.id, &schema_id, &keys).await?;
    object_response(&state, row.id, &object).await
}

/// `DELETE …/schemas/{schema_id}/primary_keys`: back to the detected key.
#[utoipa::path(
    delete, path = "/api/connections/{id}/schemas/{schema_id}/primary_keys", tag = "schemas",
    params(("id" = Uuid, Path, description = "The connection's id."), ("schema_id" = String, Path, description = "The object's schema id, `schema.name`: a part holding `.` or `\"` is double-quoted with `\"` doubled (`a.\"b.c\"`, `\"a.b\".c`); percent-encode it.")),
    responses(
        (status = 200, description = "The object with its detected key.", body = dto::ObjectEnvelope),
        (status = 404, description = "No such connection or object.", body = dto::ErrorEnvelope),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn reset_primary_keys(
    _caller: Authorized<SchemasWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    connection: OwnConnectionId,
) -> Result<HttpResponse, ApiError> {
    let (_, raw_schema_id) = path.into_inner();
    let row = connection.load(&state).await?;
    let (object, _) = load_object(&state, &row, &raw_schema_id).await?;
    overrides::reset_primary_keys(&state.pool, row.id, &object.id()).await?;
    object_response(&state, row.id, &object).await
}

/// The object as it now stands.
async fn object_response(
    state: &AppState,
    connection_id: Uuid,
    object: &SchemaObject,
) -> Result<HttpResponse, ApiError> {
    let id: SchemaId = object.id();
    let view = effective(
        object,
        &overrides::of_object(&state.pool, connection_id, &id).await?,
    );
    Ok(dto::ObjectEnvelope::new(dto::ObjectDetail::of(object, &view)).ok())
}

fn field_not_found(object: &SchemaObject, field_id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Field not found on {}: {}",
        object.id(),
        field_id.chars().take(MAX_TEXT).collect::<String>()
    ))
}

fn field_type(raw: &str) -> Result<FieldType, String> {
    parse_field_type(raw).ok_or_else(|| {
        let ours: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "unknown type `{}`: use one of {} (or Polytomic's `object`).",
            raw.chars().take(32).collect::<String>(),
            ours.join(", ")
        )
    })
}

fn optional_text(what: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => check_text(what, &text, true).map(|()| Some(text)),
        None => Ok(None),
    }
}

fn check_text(what: &str, text: &str, spaces_allowed: bool) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("`{what}` must not be blank."));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!("`{what}` is longer than {MAX_TEXT} characters."));
    }
    if text.chars().any(char::is_control) || (!spaces_allowed && text.contains('/')) {
        return Err(format!(
            "`{what}` must not contain control characters{}.",
            if spaces_allowed { "" } else { " or `/`" }
        ));
    }
    Ok(())
}
