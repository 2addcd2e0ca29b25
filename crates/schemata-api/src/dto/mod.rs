//! One type per body the API sends or takes, built from store rows and core
//! values and returned by the handlers; the OpenAPI document derives from
//! these same types. Every response type is closed (`deny_unknown_fields`
//! makes the document say `additionalProperties: false`), so a field a
//! handler adds without documenting it fails the contract tests.

mod connection;
mod envelope;
mod error;
mod object;
mod refresh;
mod run;
mod status;
mod time;
mod webhook;

pub(crate) use connection::{Connection, CreateConnection, HealthCheck, UpdateConnection};
pub(crate) use envelope::*;
pub(crate) use error::{ErrorBody, ErrorCode, ErrorEnvelope};
pub(crate) use object::{
    Field, FlaggedKey, ObjectDetail, ObjectSummary, PatchField, PrimaryKeyInput, PrimaryKeys,
    UpsertFields, UserFieldInput,
};
pub(crate) use refresh::{RefreshAccepted, RefreshNotNeeded, Skipped};
pub(crate) use run::{ActiveCounts, OrganizationRuns, Run};
pub(crate) use status::Status;
pub(crate) use webhook::{CreateWebhook, Delivery, Webhook, WebhookCreated};

/// `/healthz` and `/readyz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeState {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: &'static str,
}
