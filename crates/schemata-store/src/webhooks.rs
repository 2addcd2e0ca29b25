//! Webhook subscriptions: where an organization wants to hear about runs.
//! The signing secret and the URL (which may carry a token) are sealed at rest
//! with the webhook's id as context, and opened only by the sender.

use crate::{SecretBox, StoreError};
use chrono::{DateTime, Utc};
use schemata_core::{Named, WebhookEvent, WebhookUrl};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The URL as shown: scheme, host, port and first path segment.
    pub url_shown: String,
    #[sqlx(try_from = "Vec<String>")]
    pub events: Events,
    pub connection_ids: Option<Vec<Uuid>>,
    pub created_at: DateTime<Utc>,
}

/// The events a webhook hears, as stored (`text[]` of their names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events(pub Vec<WebhookEvent>);

impl TryFrom<Vec<String>> for Events {
    type Error = schemata_core::UnknownName;

    fn try_from(names: Vec<String>) -> Result<Self, Self::Error> {
        names
            .iter()
            .map(|n| n.parse())
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

const COLUMNS: &str = "id, organization_id, url_shown, events, connection_ids, created_at";

/// Most webhooks one organization may have: each run's end writes a delivery
/// per webhook and event in the transaction that closes the run.
pub const MAX_PER_ORGANIZATION: i64 = 25;

/// What a client sets on a webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub events: Vec<WebhookEvent>,
    pub connection_ids: Option<Vec<Uuid>>,
}

/// A random signing secret, as shown (once) to the client.
pub fn generate_secret() -> String {
    format!("whsec_{}", hex::encode(crate::crypto::random_bytes::<32>()))
}

/// Stores a webhook with its URL and secret sealed; None when the organization
/// already has [`MAX_PER_ORGANIZATION`].
pub async fn insert(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: Uuid,
    webhook: &NewWebhook,
    secret: &str,
) -> Result<Option<WebhookRow>, StoreError> {
    let id = Uuid::now_v7();
    let sealed_secret = secrets.seal(secret.as_bytes(), &context(id, "secret"));
    let sealed_url = secrets.seal(webhook.url.as_str().as_bytes(), &context(id, "url"));
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhooks (id, organization_id, url_sealed, url_shown, events, connection_ids, secret_sealed)
         SELECT $1, $2, $3, $4, $5, $6, $7
         WHERE (SELECT count(*) FROM webhooks WHERE organization_id = $2) < $8
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(organization_id)
    .bind(sealed_url)
    .bind(webhook.url.shown())
    .bind(webhook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
    .bind(&webhook.connection_ids)
    .bind(sealed_secret)
    .bind(MAX_PER_ORGANIZATION)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Associated data of a webhook's sealed fields: a ciphertext copied onto
/// another webhook, or into the other field, does not open.
fn context(id: Uuid, field: &str) -> Vec<u8> {
    [id.as_bytes().as_slice(), field.as_bytes()].concat()
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

/// A sealed field (`secret` or `url`), for the sender only.
pub(crate) fn open(
    secrets: &SecretBox,
    webhook_id: Uuid,
    field: &str,
    sealed: &[u8],
) -> Result<String, StoreError> {
    let plain = secrets.open(sealed, &context(webhook_id, field))?;
    String::from_utf8(plain).map_err(|_| StoreError::Decrypt)
}
