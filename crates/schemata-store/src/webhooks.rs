//! Webhook subscriptions: where an organization wants to hear about runs.
//! The signing secret is sealed at rest with the webhook's id as context, and
//! opened only by the sender.

use crate::{SecretBox, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The events a webhook can subscribe to.
pub const EVENTS: [&str; 3] = [
    "refresh.finished",
    "schema.changed",
    "schema.breaking_change",
];

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub connection_ids: Option<Vec<Uuid>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, organization_id, url, events, connection_ids, created_at";

/// What a client sets on a webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub connection_ids: Option<Vec<Uuid>>,
}

/// A random signing secret, as shown (once) to the client.
pub fn generate_secret() -> String {
    format!("whsec_{}", hex::encode(crate::crypto::random_bytes::<32>()))
}

/// Stores a webhook with its secret sealed. Connections named must belong to
/// the organization (checked in the same statement).
pub async fn insert(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: Uuid,
    webhook: &NewWebhook,
    secret: &str,
) -> Result<WebhookRow, StoreError> {
    let id = Uuid::now_v7();
    let sealed = secrets.seal(secret.as_bytes(), id.as_bytes());
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhooks (id, organization_id, url, events, connection_ids, secret_sealed)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(organization_id)
    .bind(&webhook.url)
    .bind(&webhook.events)
    .bind(&webhook.connection_ids)
    .bind(sealed)
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// The ids among `ids` that are not connections of the organization.
pub async fn foreign_connections(
    pool: &PgPool,
    organization_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    let missing = sqlx::query_scalar(
        "SELECT wanted FROM unnest($2::uuid[]) AS wanted
         WHERE NOT EXISTS (SELECT 1 FROM connections c WHERE c.id = wanted AND c.organization_id = $1)",
    )
    .bind(organization_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(missing)
}

/// A page of the organization's webhooks, by id.
pub async fn list(
    pool: &PgPool,
    organization_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<WebhookRow>, StoreError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE organization_id = $1 AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )))
    .bind(organization_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn get(
    pool: &PgPool,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<WebhookRow>, StoreError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE organization_id = $1 AND id = $2"
    )))
    .bind(organization_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Deletes a webhook and its deliveries; false when there was none.
pub async fn delete(pool: &PgPool, organization_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM webhooks WHERE organization_id = $1 AND id = $2")
        .bind(organization_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The signing secret, for the sender only.
pub(crate) fn open_secret(
    secrets: &SecretBox,
    webhook_id: Uuid,
    sealed: &[u8],
) -> Result<String, StoreError> {
    let plain = secrets.open(sealed, webhook_id.as_bytes())?;
    String::from_utf8(plain).map_err(|_| StoreError::Decrypt)
}
