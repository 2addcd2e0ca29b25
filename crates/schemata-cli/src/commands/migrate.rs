use anyhow::Context;

pub(crate) async fn run() -> anyhow::Result<()> {
    let pool = super::connect().await?;
    schemata_store::migrate(&pool)
        .await
        .context("Failed to migrate")?;
    println!("Migrations applied (schemata and job queue).");
    Ok(())
}
