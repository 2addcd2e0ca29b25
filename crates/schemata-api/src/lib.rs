//! The Schemata HTTP API: connections, refreshes and the cached schema, as in shared/API.md.

mod auth;
mod clean_input;
mod envelope;
mod error;
mod health;
mod http_metrics;
mod idempotency;
mod key_cache;
mod object_view;
mod openapi;
mod request_id;
mod routes;
pub mod settings;
mod startup;
mod state;
mod status_cache;
mod views;

pub use error::ApiError;

/// The OpenAPI document, as JSON.
pub fn openapi_document() -> serde_json::Value {
    serde_json::to_value(openapi::document()).expect("the OpenAPI document serializes")
}

/// Every (path pattern, method) the app serves.
pub fn served_routes() -> Vec<(String, String)> {
    routes::served()
}
pub use settings::ApiSettings;
pub use startup::{Application, serve_from_env};
