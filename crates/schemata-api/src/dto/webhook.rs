//! Webhook subscriptions and their deliveries.

use super::time::{millis, millis_opt};
use chrono::{DateTime, Utc};
use schemata_core::{DeliveryStatus, WebhookEvent};
use schemata_store::{webhook_deliveries::DeliveryRow, webhooks::WebhookRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/schemata",
    "events": ["schema.changed", "schema.breaking_change"]
}))]
pub(crate) struct CreateWebhook {
    /// http(s); its host must pass the server's access policy.
    pub url: String,
    /// Read as names, so that an unknown one is answered with the list.
    #[schema(value_type = Vec<WebhookEvent>)]
    pub events: Vec<String>,
    /// Only these connections' runs (default: every connection of the organization).
    pub connection_ids: Option<Vec<Uuid>>,
}

/// A webhook subscription.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Webhook {
    id: Uuid,
    /// Scheme, host, port and first path segment; the rest shown as `********`.
    url: String,
    events: Vec<WebhookEvent>,
    /// Null: every connection of the organization.
    connection_ids: Option<Vec<Uuid>>,
    #[serde(serialize_with = "millis")]
    created_at: DateTime<Utc>,
}

impl From<&WebhookRow> for Webhook {
    fn from(row: &WebhookRow) -> Self {
        Self {
            id: row.id,
            url: row.url_shown.clone(),
            events: row.events.0.clone(),
            connection_ids: row.connection_ids.clone(),
            created_at: row.created_at,
        }
    }
}

/// A webhook just created, with its signing secret (shown this once).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookCreated {
    id: Uuid,
    /// Scheme, host, port and first path segment; the rest shown as `********`.
    url: String,
    events: Vec<WebhookEvent>,
    connection_ids: Option<Vec<Uuid>>,
    #[serde(serialize_with = "millis")]
    created_at: DateTime<Utc>,
    /// Key of the HMAC-SHA256 in `Schemata-Signature`; store it now.
    secret: String,
}

impl WebhookCreated {
    pub(crate) fn new(row: &WebhookRow, secret: String) -> Self {
        Self {
            id: row.id,
            url: row.url_shown.clone(),
            events: row.events.0.clone(),
            connection_ids: row.connection_ids.clone(),
            created_at: row.created_at,
            secret,
        }
    }
}

/// One event sent (or to be sent) to a webhook.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Delivery {
    /// The payload's `id`: receivers dedupe on it.
    id: Uuid,
    event: WebhookEvent,
    connection_id: Uuid,
    job_id: Uuid,
    status: DeliveryStatus,
    attempts: i32,
    #[serde(serialize_with = "millis")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "millis_opt")]
    last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status; null when no answer came.
    last_status_code: Option<i32>,
    /// Why the last attempt failed (refused, unreachable, a non-2xx answer…).
    last_error: Option<String>,
    #[serde(serialize_with = "millis_opt")]
    next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    delivered_at: Option<DateTime<Utc>>,
}

impl From<&DeliveryRow> for Delivery {
    fn from(row: &DeliveryRow) -> Self {
        Self {
            id: row.id,
            event: row.event,
            connection_id: row.connection_id,
            job_id: row.run_id,
            status: row.status,
            attempts: row.attempts,
            created_at: row.created_at,
            last_attempt_at: row.last_attempt_at,
            last_status_code: row.last_status_code,
            last_error: row.last_error.clone(),
            next_attempt_at: (row.status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
            delivered_at: row.delivered_at,
        }
    }
}
