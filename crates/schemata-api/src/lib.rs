//! The Schemata HTTP API: connections, refreshes and the cached schema, as in shared/API.md.

mod auth;
mod dto;
mod error;
mod health;
mod health_slots;
mod http_metrics;
mod idempotency;
mod key_cache;
mod middleware;
mod openapi;
mod own_connection;
mod request_context;
mod revalidate;
mod routes;
pub mod settings;
mod startup;
mod state;
mod status_cache;

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
