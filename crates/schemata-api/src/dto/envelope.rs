//! The success envelopes: `{"success": true, "data": …}`, and pages of a list
//! with their cursor. One named type per body, so the document keeps a name
//! for each and a handler returns the very type it documents.

use actix_web::{HttpResponse, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pagination {
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A body that answers a request as JSON.
pub(crate) trait Body: Serialize {
    fn respond(&self, status: StatusCode) -> HttpResponse {
        HttpResponse::build(status).json(self)
    }

    fn ok(&self) -> HttpResponse {
        self.respond(StatusCode::OK)
    }
}

/// Wraps `$data` as `{"success": true, "data": …}`.
macro_rules! envelope {
    ($name:ident, $data:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            success: bool,
            data: $data,
        }

        impl $name {
            pub(crate) fn new(data: $data) -> Self {
                Self {
                    success: true,
                    data,
                }
            }
        }

        impl Body for $name {}
    };
}

/// Wraps a list as `{"success": true, "data": […], "pagination": {…}}`.
macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            success: bool,
            data: Vec<$item>,
            pagination: Pagination,
        }

        impl $name {
            pub(crate) fn new(data: Vec<$item>, next_cursor: Option<String>) -> Self {
                Self {
                    success: true,
                    data,
                    pagination: Pagination { next_cursor },
                }
            }
        }

        impl Body for $name {}
    };
}

use super::{
    Connection, Delivery, Field, HealthCheck, ObjectDetail, ObjectSummary, ProbeState,
    RefreshAccepted, RefreshNotNeeded, Run, Status, Webhook, WebhookCreated,
};
use serde_json::{Map, Value};

envelope!(ConnectionEnvelope, Connection, "One connection.");
envelope!(
    HealthCheckEnvelope,
    HealthCheck,
    "A health check's outcome."
);
envelope!(StatusEnvelope, Status, "The cache's status.");
envelope!(
    RefreshAcceptedEnvelope,
    RefreshAccepted,
    "A refresh accepted."
);
envelope!(
    RefreshNotNeededEnvelope,
    RefreshNotNeeded,
    "A refresh not needed."
);
envelope!(RunEnvelope, Run, "One run.");
envelope!(ObjectEnvelope, ObjectDetail, "One cached object.");
envelope!(FieldEnvelope, Field, "One field.");
envelope!(
    RecordsEnvelope,
    Vec<Map<String, Value>>,
    "Sample rows, as JSON objects keyed by field name."
);
envelope!(ProbeEnvelope, ProbeState, "A probe's answer.");
page!(ConnectionPage, Connection, "A page of connections.");
page!(RunPage, Run, "A page of runs, newest first.");
page!(ObjectPage, ObjectSummary, "A page of cached objects.");
envelope!(WebhookEnvelope, Webhook, "One webhook.");
envelope!(
    WebhookCreatedEnvelope,
    WebhookCreated,
    "A new webhook and its secret."
);
page!(WebhookPage, Webhook, "A page of webhooks.");
page!(
    DeliveryPage,
    Delivery,
    "A page of deliveries, newest first."
);
