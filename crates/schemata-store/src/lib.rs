//! Postgres persistence of Schemata. The only crate that knows the SQL of our tables.

pub mod api_keys;
pub mod cache;
pub mod connections;
pub mod crypto;
mod error;
pub mod history;
pub mod idempotency;
pub mod migrations;
pub mod organizations;
pub mod overrides;
pub mod queue;
pub mod rate_limits;
pub mod runs;
pub mod schedule;
pub mod settings;
pub mod snapshots;
pub mod status;
mod stored_json;
pub mod webhook_deliveries;
pub mod webhooks;

pub use crypto::SecretBox;
pub use error::StoreError;
pub use migrations::{check_migrated, check_ready, migrate};
pub use queue::QUEUE_NAME;
pub use settings::{
    DEFAULT_DATABASE_URL, StoreSettings, database_url_from_env, encryption_key_from_env,
};
pub use sqlx::PgPool;
pub use stored_json::StoredJson;
