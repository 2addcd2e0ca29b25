//! Subcommands that drive a running Schemata through its public API:
//! `connections`, `refresh`, `schema` and `runs`.

mod api;
mod connections;
mod output;
mod refresh;
mod schema;

pub use api::{Api, ApiFailure};
use clap::{Args, Subcommand};

/// Where the API is and which key to use; and how to print.
#[derive(Args, Clone)]
pub struct ApiArgs {
    /// The API's base URL (default: `schemata dev`'s, else http://127.0.0.1:8080).
    #[arg(long, env = "SCHEMATA_URL", global = true)]
    pub url: Option<String>,
    /// An API key (default: `schemata dev`'s).
    #[arg(
        long = "api-key",
        env = "SCHEMATA_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<String>,
    /// Print JSON (the API's `data`) instead of tables and progress.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ApiArgs {
    fn api(&self) -> Result<Api, ApiFailure> {
        Api::from(self.url.clone(), self.api_key.clone())
    }
}

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// Every connection of your organization.
    List,
    /// One connection (by id or name).
    Show { connection: String },
    /// Creates a connection.
    Create(connections::CreateArgs),
    /// Checks now that the source answers (exit 1 when it does not).
    Test { connection: String },
    /// Deletes a connection with its cache and history.
    Delete { connection: String },
}

/// `schemata connections …`: exit code.
pub async fn connections(args: ApiArgs, command: ConnectionsCommand) -> i32 {
    report(
        async {
            let api = args.api()?;
            connections::run(&api, args.json, command).await
        }
        .await,
    )
}

/// `schemata refresh …`: exit code (0 fresh, 1 failed, 2 partial, 3 timed out).
pub async fn refresh(args: ApiArgs, refresh: refresh::RefreshArgs) -> i32 {
    report(
        async {
            let api = args.api()?;
            refresh::run(&api, args.json, refresh).await
        }
        .await,
    )
}

/// `schemata schema CONNECTION [SCHEMA_ID]`.
pub async fn schema(args: ApiArgs, connection: String, object: Option<String>) -> i32 {
    report(
        async {
            let api = args.api()?;
            schema::objects(&api, args.json, &connection, object.as_deref()).await
        }
        .await,
    )
}

/// `schemata runs CONNECTION`.
pub async fn runs(args: ApiArgs, connection: String) -> i32 {
    report(
        async {
            let api = args.api()?;
            schema::runs(&api, args.json, &connection).await
        }
        .await,
    )
}

pub use refresh::RefreshArgs;

/// The API's message and request id on stderr, exit code 1.
fn report(outcome: Result<i32, ApiFailure>) -> i32 {
    outcome.unwrap_or_else(|failure| {
        eprintln!("error: {failure}");
        1
    })
}
