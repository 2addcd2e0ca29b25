//! `schemata connections list|show|create|test|delete`.

use super::{
    ConnectionsCommand,
    api::{Api, ApiFailure},
    output::{cell, print_json, table},
};
use clap::Args;
use serde_json::{Value, json};

#[derive(Args)]
pub struct CreateArgs {
    /// A name unique in your organization.
    #[arg(long)]
    name: String,
    /// `postgresql`, `mysql` or `sqlite`.
    #[arg(long = "type", default_value = "postgresql")]
    kind: String,
    /// The source's URL (`postgres://user:password@host/db`, `mysql://…`), or a
    /// SQLite file's path under the server's SQLite root.
    #[arg(long = "source-url")]
    source_url: String,
    /// Only these schemas (repeatable).
    #[arg(long = "schema")]
    schemas: Vec<String>,
    /// Refresh by itself when the cache goes stale.
    #[arg(long)]
    auto_refresh: bool,
}

pub async fn run(
    api: &Api,
    json_out: bool,
    command: ConnectionsCommand,
) -> Result<i32, ApiFailure> {
    match command {
        ConnectionsCommand::List => {
            let all = api.all("/api/connections").await?;
            if json_out {
                print_json(&Value::Array(all));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|c| {
                        vec![
                            cell(&c["name"]),
                            cell(&c["type"]),
                            cell(&c["status"]),
                            cell(&c["health_status"]),
                            cell(&c["id"]),
                        ]
                    })
                    .collect();
                println!(
                    "{}",
                    table(&["NAME", "TYPE", "STATUS", "HEALTH", "ID"], &rows)
                );
            }
            Ok(0)
        }
        ConnectionsCommand::Show { connection } => {
            let id = api.resolve(&connection).await?;
            let found = api.get(&format!("/api/connections/{id}")).await?;
            print_json(&found["data"]);
            Ok(0)
        }
        ConnectionsCommand::Create(args) => {
            let configuration = if args.kind == "sqlite" {
                json!({ "path": args.source_url })
            } else {
                json!({ "url": args.source_url })
            };
            let created = api
                .post(
                    "/api/connections",
                    Some(&json!({
                        "name": args.name,
                        "type": args.kind,
                        "configuration": configuration,
                        "schema_filter": args.schemas,
                        "auto_refresh": args.auto_refresh,
                    })),
                )
                .await?;
            if json_out {
                print_json(&created.body["data"]);
            } else {
                println!(
                    "Created connection {} ({}).",
                    cell(&created.body["data"]["name"]),
                    cell(&created.body["data"]["id"])
                );
            }
            Ok(0)
        }
        ConnectionsCommand::Test { connection } => {
            let id = api.resolve(&connection).await?;
            let tested = api
                .post(&format!("/api/connections/{id}/test"), None)
                .await?;
            let data = &tested.body["data"];
            if json_out {
                print_json(data);
            } else if data["health"] == "healthy" {
                println!("healthy ({} ms)", cell(&data["latency_ms"]));
            } else {
                println!("unhealthy: {}", cell(&data["message"]));
            }
            Ok(if data["health"] == "healthy" { 0 } else { 1 })
        }
        ConnectionsCommand::Delete { connection } => {
            let id = api.resolve(&connection).await?;
            api.delete(&format!("/api/connections/{id}")).await?;
            if !json_out {
                println!("Deleted connection {id}.");
            }
            Ok(0)
        }
    }
}
