//! What webhooks hear, and where a delivery stands.

use serde::{Deserialize, Serialize};

/// The events a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    /// Every run's end: succeeded, partial, failed or cancelled.
    #[serde(rename = "refresh.finished")]
    RefreshFinished,
    /// A run that changed the cached schema.
    #[serde(rename = "schema.changed")]
    SchemaChanged,
    /// A run whose changes could break a reader of the old schema.
    #[serde(rename = "schema.breaking_change")]
    SchemaBreakingChange,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 3] = [
        Self::RefreshFinished,
        Self::SchemaChanged,
        Self::SchemaBreakingChange,
    ];
}

impl crate::Named for WebhookEvent {
    const WHAT: &'static str = "webhook event";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::RefreshFinished => "refresh.finished",
            Self::SchemaChanged => "schema.changed",
            Self::SchemaBreakingChange => "schema.breaking_change",
        }
    }
}

crate::named_enum!(WebhookEvent);

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up after the retry window (24 h by default).
    Failed,
}

impl crate::Named for DeliveryStatus {
    const WHAT: &'static str = "delivery status";

    fn all() -> &'static [Self] {
        &[Self::Pending, Self::Delivered, Self::Failed]
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

crate::named_enum!(DeliveryStatus);
