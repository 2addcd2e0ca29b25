//! API keys: random tokens shown once, stored as SHA-256 hashes.

use crate::{StoreError, crypto::random_bytes};
use schemata_core::Scope;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// Every key starts with this, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "sk_schemata_";

/// A key as it is known after authentication.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub scopes: Vec<Scope>,
}

/// A freshly created key: the only time the secret exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: Uuid,
    pub secret: String,
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub async fn create(
    pool: &PgPool,
    organization_id: Uuid,
    name: &str,
    scopes: &[Scope],
) -> Result<CreatedKey, StoreError> {
    let secret = format!("{KEY_PREFIX}{}", hex::encode(random_bytes::<32>()));
    let id = Uuid::now_v7();
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "INSERT INTO api_keys (id, organization_id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(name)
    .bind(&secret[..KEY_PREFIX.len() + 6])
    .bind(hash(&secret))
    .bind(&scope_names)
    .execute(pool)
    .await?;
    Ok(CreatedKey { id, secret })
}

/// The live key with this secret, if any. One round trip: every request
/// authenticates, and clients poll.
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<ApiKey>, StoreError> {
    // At most one write a minute per key, so busy keys do not contend on their row.
    let row: Option<(Uuid, Uuid, Vec<String>)> = sqlx::query_as(
        "WITH key AS (
             SELECT id, organization_id, scopes, last_used_at FROM api_keys
             WHERE key_hash = $1 AND revoked_at IS NULL
         ), touched AS (
             UPDATE api_keys k SET last_used_at = now() FROM key
             WHERE k.id = key.id
               AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
         )
         SELECT id, organization_id, scopes FROM key",
    )
    .bind(hash(secret))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, organization_id, scopes)| ApiKey {
        id,
        organization_id,
        scopes: scopes.iter().filter_map(|s| s.parse().ok()).collect(),
    }))
}
