#[tokio::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    schemata_worker::run_from_env().await
}
