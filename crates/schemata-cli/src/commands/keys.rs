use anyhow::Context;
use clap::Subcommand;
use schemata_core::Scope;
use schemata_store::{api_keys, organizations};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an API key and print it once; only its hash is stored.
    Create {
        /// Organization slug; created if it does not exist.
        #[arg(long)]
        org: String,
        /// Comma-separated scopes (connections:read, connections:write, schemas:read, schemas:write) or `all`.
        #[arg(long, default_value = "all")]
        scopes: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

pub(crate) async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Create { org, scopes, name } = command;
    let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
    let pool = super::connect().await?;
    schemata_store::check_migrated(&pool).await?;
    let organization = organizations::ensure(&pool, &org)
        .await
        .context("Failed to create the organization")?;
    let key = api_keys::create(&pool, organization.id, &name, &scopes)
        .await
        .context("Failed to create the key")?;
    eprintln!(
        "Created key {} for organization `{org}` with scopes {}.",
        key.id,
        Scope::list_text(&scopes)
    );
    eprintln!("Store it now: it is shown only once.");
    println!("{}", key.secret);
    Ok(())
}
