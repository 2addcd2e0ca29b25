//! Idempotency-Key replays: the first successful answer to a key is kept for
//! 24 hours and given again to the same request; another request under the
//! same key is refused.

use crate::StoreError;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// How long an answer is replayed.
pub const KEEP_HOURS: i32 = 24;
/// A claim whose request never completed (its process died) is taken over
/// after this many seconds.
const ABANDONED_AFTER_SECS: f64 = 60.0;

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First use: run the request, then `complete` or `release`.
    Fresh,
    Replay(StoredAnswer),
    /// The key was used for a different request.
    Mismatch,
    /// The same request is being answered right now.
    InFlight,
}

/// Claims `key` for the request hashed as `request_hash`.
pub async fn claim(
    pool: &PgPool,
    organization_id: Uuid,
    key: &str,
    request_hash: &str,
) -> Result<Claim, StoreError> {
    // A key released by a failed request between our insert and our read is
    // simply free again: try once more.
    for _ in 0..3 {
        if let Some(claim) = try_claim(pool, organization_id, key, request_hash).await? {
            return Ok(claim);
        }
    }
    Ok(Claim::InFlight)
}

async fn try_claim(
    pool: &PgPool,
    organization_id: Uuid,
    key: &str,
    request_hash: &str,
) -> Result<Option<Claim>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE organization_id = $1 AND key = $2
           AND (created_at < now() - make_interval(hours => $3)
                OR (status_code = 0 AND created_at < now() - make_interval(secs => $4)))",
    )
    .bind(organization_id)
    .bind(key)
    .bind(KEEP_HOURS)
    .bind(ABANDONED_AFTER_SECS)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (organization_id, key, request_hash, status_code, response)
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(organization_id)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(Some(Claim::Fresh));
    }
    let found: Option<(String, i32, Value, Option<String>)> = sqlx::query_as(
        "SELECT request_hash, status_code, response, location FROM idempotency_keys
         WHERE organization_id = $1 AND key = $2",
    )
    .bind(organization_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found.map(|(hash, status, body, location)| {
        if hash != request_hash {
            Claim::Mismatch
        } else if status == 0 {
            Claim::InFlight
        } else {
            Claim::Replay(StoredAnswer {
                status: u16::try_from(status).unwrap_or(200),
                body,
                location,
            })
        }
    }))
}

/// Keeps the answer to a claimed key.
pub async fn complete(
    pool: &PgPool,
    organization_id: Uuid,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response = $4, location = $5
         WHERE organization_id = $1 AND key = $2",
    )
    .bind(organization_id)
    .bind(key)
    .bind(i32::from(answer.status))
    .bind(&answer.body)
    .bind(&answer.location)
    .execute(pool)
    .await?;
    Ok(())
}

/// Lets go of a claimed key whose request failed: a retry runs again.
pub async fn release(pool: &PgPool, organization_id: Uuid, key: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE organization_id = $1 AND key = $2 AND status_code = 0",
    )
    .bind(organization_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes keys older than 24 hours.
pub async fn prune(pool: &PgPool) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    )
    .bind(KEEP_HOURS)
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
