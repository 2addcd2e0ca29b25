/// mimalloc: a large refresh allocates millions of short strings, and glibc's
/// malloc spent half the worker's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    schemata_api::serve_from_env().await
}
