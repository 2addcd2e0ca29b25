//! Cursor pagination shared by every list.

use crate::error::ApiError;

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
