//! Timestamps as the contract spells them: RFC 3339, UTC, milliseconds
//! (`2026-03-11T10:00:00.000Z`), for `#[serde(serialize_with)]`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub(crate) fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(crate) fn millis_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, serializer),
        None => serializer.serialize_none(),
    }
}
