pub mod client;
pub mod dev;
pub mod keys;
pub mod migrate;

use anyhow::Context;
use schemata_store::PgPool;

/// A pool on DATABASE_URL (or the local default), without the migration check.
pub(crate) async fn connect() -> anyhow::Result<PgPool> {
    let url = schemata_store::database_url_from_env().map_err(anyhow::Error::msg)?;
    PgPool::connect(&url)
        .await
        .with_context(|| format!("Failed to connect to {}", redact(&url)))
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("********"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
