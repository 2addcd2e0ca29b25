//! Cursor pagination shared by every list.

use crate::error::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// `limit` as asked, defaulting to 50, at most 200.
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

/// `?limit=&cursor=` of a list paged by id.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A cursor that is an id: none for the first page.
pub(crate) fn id_cursor(raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => Uuid::parse_str(raw)
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("Invalid cursor `{raw}`."))),
    }
}
