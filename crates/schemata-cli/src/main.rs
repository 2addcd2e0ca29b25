//! `schemata`: the all-in-one dev server, migrations and API keys, and a
//! client of a running API (connections, refresh, schema, runs).

mod commands;

use clap::{Parser, Subcommand};

/// mimalloc: a large refresh allocates millions of short strings, and glibc's
/// malloc spent half the worker's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "schemata",
    version,
    about = "Schemata: an always-current cache of your databases' schemas"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything locally: find or start PostgreSQL, migrate, serve API and worker, seed a demo.
    Dev(commands::dev::DevArgs),
    /// Serve the API alone, configured from the environment (as `schemata-api`).
    Api,
    /// Run a worker alone, configured from the environment (as `schemata-worker`).
    Worker,
    /// Apply Schemata's and the job queue's migrations to DATABASE_URL.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
    /// Manage connections of a running API.
    Connections {
        #[command(flatten)]
        api: commands::client::ApiArgs,
        #[command(subcommand)]
        command: commands::client::ConnectionsCommand,
    },
    /// Refresh a connection's cached schema; `--wait` follows it to the end
    /// (exit 0 fresh, 1 failed, 2 partial, 3 timed out).
    Refresh {
        #[command(flatten)]
        api: commands::client::ApiArgs,
        #[command(flatten)]
        refresh: commands::client::RefreshArgs,
    },
    /// The cached objects of a connection, or one object's fields.
    Schema {
        #[command(flatten)]
        api: commands::client::ApiArgs,
        /// The connection's id or name.
        connection: String,
        /// An object, as `schema.name`.
        object: Option<String>,
    },
    /// A connection's refresh history.
    Runs {
        #[command(flatten)]
        api: commands::client::ApiArgs,
        /// The connection's id or name.
        connection: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    schemata_telemetry::init();
    schemata_sources::http::install_crypto_provider();
    match Cli::parse().command {
        Command::Dev(args) => commands::dev::run(args).await,
        Command::Api => schemata_api::serve_from_env().await,
        Command::Worker => schemata_worker::run_from_env().await,
        Command::Migrate => commands::migrate::run().await,
        Command::Keys { command } => commands::keys::run(command).await,
        Command::Connections { api, command } => {
            std::process::exit(commands::client::connections(api, command).await)
        }
        Command::Refresh { api, refresh } => {
            std::process::exit(commands::client::refresh(api, refresh).await)
        }
        Command::Schema {
            api,
            connection,
            object,
        } => std::process::exit(commands::client::schema(api, connection, object).await),
        Command::Runs { api, connection } => {
            std::process::exit(commands::client::runs(api, connection).await)
        }
    }
}
