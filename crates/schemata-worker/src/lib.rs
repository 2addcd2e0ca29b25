//! The refresh worker: drains the apalis-postgres queue and rewrites schema caches.
//! Meets the API only in the database.

mod hand_back;
mod jitter;
pub mod jobs;
mod ops;
mod reaper;
mod scheduler;
pub mod settings;
mod shutdown;
mod startup;
pub mod webhooks;

pub use hand_back::HandBack;
pub use jobs::{context::RefreshContext, outcome::RefreshOutcome, refresh::refresh};
pub use settings::WorkerSettings;
pub use shutdown::shutdown_signal;
pub use startup::{Worker, run_from_env};
pub use webhooks::WebhookSettings;
