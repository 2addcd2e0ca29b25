//! Webhook deliveries: the worker sends what runs' ends queued, signed, and
//! retries with backoff. See `schemata_store::webhook_deliveries` for the queue.

mod sender;
mod settings;
pub mod signature;

pub use sender::WebhookSender;
pub use settings::WebhookSettings;
