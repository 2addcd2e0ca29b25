//! Request rate limits per API key, counted in PostgreSQL (one upsert per
//! request) so that every API replica sees the same count.

use crate::StoreError;
use sqlx::PgPool;
use uuid::Uuid;

/// The answer to one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; the window ends in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

/// Counts a request of `api_key_id` in the current one-minute window and says
/// whether it is within `per_minute`. Refused requests count too, so a client
/// hammering a closed window gains nothing.
pub async fn hit(pool: &PgPool, api_key_id: Uuid, per_minute: u32) -> Result<Verdict, StoreError> {
    let (requests, retry_after): (i32, f64) = sqlx::query_as(
        "INSERT INTO rate_limit_windows AS w (api_key_id, window_start, requests)
         VALUES ($1, date_trunc('minute', now()), 1)
         ON CONFLICT (api_key_id, window_start) DO UPDATE SET requests = w.requests + 1
         RETURNING requests,
                   extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8",
    )
    .bind(api_key_id)
    .fetch_one(pool)
    .await?;
    if i64::from(requests) <= i64::from(per_minute) {
        Ok(Verdict::Allowed)
    } else {
        Ok(Verdict::Limited {
            retry_after_secs: retry_after.ceil().max(1.0) as u64,
        })
    }
}

/// Deletes windows that have ended.
pub async fn prune(pool: &PgPool) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM rate_limit_windows WHERE window_start < date_trunc('minute', now())",
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
