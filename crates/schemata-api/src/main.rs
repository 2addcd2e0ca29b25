use anyhow::Context;
use schemata_api::{ApiSettings, Application};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    let settings = ApiSettings::from_env()
        .map_err(anyhow::Error::msg)
        .context("Invalid configuration")?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "schemata-api listening");
    application
        .run_until_stopped()
        .await
        .context("The API server failed")
}
