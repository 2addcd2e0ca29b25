use anyhow::Context;
use schemata_worker::{Worker, WorkerSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    let settings = WorkerSettings::from_env()
        .map_err(anyhow::Error::msg)
        .context("Invalid configuration")?;
    let worker = Worker::build(settings).await?;
    tracing::info!(
        ops_port = worker.ops_port(),
        worker.name = worker.name(),
        "schemata-worker ready"
    );
    worker
        .run_until_stopped(schemata_worker::shutdown_signal())
        .await
}
