#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    schemata_api::serve_from_env().await
}
