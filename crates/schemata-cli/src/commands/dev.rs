//! `schemata dev`: one command from a clean checkout to a running service with a
//! demo connection to refresh.

use anyhow::Context;
use clap::Args;
use schemata_api::{ApiSettings, Application};
use schemata_core::{Scope, SourceConfig, SourceKind};
use schemata_localpg::{LocalServer, PRIVATE_PORT, find_or_start};
use schemata_store::{
    PgPool, SecretBox, StoreSettings, api_keys,
    connections::{self, ConnectionFields},
    organizations,
};
use schemata_worker::{Worker, WorkerSettings, shutdown_signal};
use sqlx::{Connection, PgConnection, postgres::PgPoolOptions};
use std::path::PathBuf;

const DEMO_ORG: &str = "demo";
const DEMO_CONNECTION: &str = "demo-shop";
const DEMO_DATABASE: &str = "schemata_demo_shop";
const SHOP_SQL: &str = include_str!("../../demo/shop.sql");
const NOTES_SQL: &str = include_str!("../../demo/notes.sql");
/// The SQLite file `schemata dev` puts under its SQLite root.
const NOTES_FILE: &str = "notes.db";

#[derive(Args)]
pub(crate) struct DevArgs {
    /// Port of the API.
    #[arg(long, default_value_t = 8080, env = "SCHEMATA_API_PORT")]
    port: u16,
    /// Port of the worker's /healthz and /readyz.
    #[arg(long, default_value_t = 8081, env = "SCHEMATA_WORKER_OPS_PORT")]
    worker_ops_port: u16,
    /// Where dev state lives: the private PostgreSQL cluster (if one is needed), the key files.
    #[arg(long, default_value = "target/schemata-dev", env = "SCHEMATA_DEV_DIR")]
    state_dir: PathBuf,
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("Failed to create {}", args.state_dir.display()))?;
    let explicit = schemata_config::env_opt("DATABASE_URL");
    let server = find_or_start(
        explicit.as_deref(),
        &args.state_dir.join("postgres"),
        PRIVATE_PORT,
    )
    .await
    .map_err(anyhow::Error::msg)
    .context("Failed to find or start PostgreSQL")?;
    let database_url = match &explicit {
        Some(url) => url.clone(),
        None => {
            server
                .ensure_database("schemata")
                .await
                .map_err(anyhow::Error::msg)?;
            server.database_url("schemata")
        }
    };
    eprintln!(
        "PostgreSQL: {} ({})",
        super::redact(&database_url),
        server.origin
    );

    // API and worker share one pool here, so the default is twice a process's.
    let store = StoreSettings::for_database(database_url, encryption_key(&args)?, 20)
        .map_err(anyhow::Error::msg)?;
    let pool = PgPoolOptions::new()
        .max_connections(store.max_connections)
        .connect(&store.database_url)
        .await
        .context("Failed to connect to the Schemata database")?;
    schemata_store::migrate(&pool)
        .await
        .context("Failed to migrate")?;
    let secrets = store.secret_box().map_err(anyhow::Error::msg)?;

    let organization = organizations::ensure(&pool, DEMO_ORG).await?;
    let api_key = api_key(&args, &pool, organization.id).await?;
    let demo_url = demo_source(&server).await?;
    let connection_id = demo_connection(&pool, &secrets, organization.id, &demo_url).await?;

    let mut api_settings = ApiSettings {
        port: args.port,
        ..ApiSettings::from_env_with(store.clone()).map_err(anyhow::Error::msg)?
    };
    let mut worker_settings = WorkerSettings::from_env_with(store).map_err(anyhow::Error::msg)?;
    worker_settings.ops_port = args.worker_ops_port;
    let sqlite_root = sqlite_root(&args, &api_settings).await?;
    for policy in [
        &mut api_settings.sources.policy,
        &mut worker_settings.sources.policy,
    ] {
        policy.sqlite_root = Some(sqlite_root.clone());
        policy.on_developer_machine();
    }
    eprintln!("{}", policy_notice(&api_settings.sources.policy));
    let api = Application::build_with_pool(api_settings, pool.clone()).await?;
    let worker = Worker::build_with_pool(worker_settings, pool.clone())?;
    let base = format!("http://127.0.0.1:{}", api.port());
    write_env_file(&args, &base, &api_key, &connection_id)?;
    print_banner(
        &base,
        worker.ops_port(),
        &api_key,
        &connection_id,
        &args,
        &sqlite_root,
    );

    let api_handle = api.handle();
    let api_task = tokio::spawn(api.run_until_stopped());
    let worker_result = worker.run_until_stopped(shutdown_signal()).await;
    api_handle.stop(true).await;
    api_task
        .await
        .context("API task panicked")?
        .context("API server failed")?;
    worker_result
}

fn encryption_key(args: &DevArgs) -> anyhow::Result<String> {
    if let Some(key) = schemata_store::encryption_key_from_env() {
        return Ok(key);
    }
    let path = args.state_dir.join("encryption.key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        return Ok(key.trim().to_owned());
    }
    let key = SecretBox::generate_key_hex();
    write_private(&path, &key)?;
    Ok(key)
}

/// Reuses the key printed last time while it still works, so README lines keep working.
async fn api_key(
    args: &DevArgs,
    pool: &PgPool,
    organization_id: uuid::Uuid,
) -> anyhow::Result<String> {
    let path = args.state_dir.join("api-key");
    if let Ok(saved) = std::fs::read_to_string(&path)
        && api_keys::authenticate(pool, saved.trim())
            .await?
            .is_some_and(|k| k.organization_id == organization_id)
    {
        return Ok(saved.trim().to_owned());
    }
    let key = api_keys::create(pool, organization_id, "schemata dev", &Scope::ALL).await?;
    write_private(&path, &key.secret)?;
    Ok(key.secret)
}

/// The demo shop database on the same server, created and loaded on first use.
async fn demo_source(server: &LocalServer) -> anyhow::Result<String> {
    server
        .ensure_database(DEMO_DATABASE)
        .await
        .map_err(anyhow::Error::msg)?;
    let url = server.database_url(DEMO_DATABASE);
    let mut conn = PgConnection::connect(&url)
        .await
        .context("Failed to connect to the demo database")?;
    let loaded: bool = sqlx::query_scalar("SELECT to_regclass('public.customers') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    if !loaded {
        sqlx::raw_sql(SHOP_SQL)
            .execute(&mut conn)
            .await
            .context("Failed to load the demo shop schema")?;
    }
    conn.close().await.ok();
    Ok(url)
}

async fn demo_connection(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: uuid::Uuid,
    url: &str,
) -> anyhow::Result<String> {
    let config = SourceConfig::parse(SourceKind::Postgresql, &serde_json::json!({ "url": url }))
        .context("The demo source's URL is not a valid configuration")?;
    let fields = ConnectionFields {
        name: DEMO_CONNECTION.into(),
        kind: SourceKind::Postgresql,
        config,
        status: schemata_core::ConnectionStatus::Active,
        schema_filter: vec![],
        table_allowlist: vec![],
        refresh_ttl_seconds: Some(3600),
        auto_refresh: false,
        refresh_schedule: None,
        refresh_timezone: "UTC".to_owned(),
        refresh_on_read: false,
    };
    // Re-sealed at every start: the dev key may be new (a `cargo clean`) while the
    // database, and the connection in it, persisted.
    if let Some(existing) =
        connections::find_by_name(pool, organization_id, DEMO_CONNECTION).await?
    {
        connections::update(pool, secrets, &existing, &fields, &Default::default()).await?;
        return Ok(existing.id.to_string());
    }
    Ok(connections::insert(pool, secrets, organization_id, &fields)
        .await?
        .id
        .to_string())
}

/// Where SQLite sources may live: `SCHEMATA_SQLITE_ROOT` if set, else
/// `<state dir>/sqlite`, with a small demo file in it the first time.
async fn sqlite_root(args: &DevArgs, settings: &ApiSettings) -> anyhow::Result<PathBuf> {
    if let Some(root) = &settings.sources.policy.sqlite_root {
        return Ok(root.clone());
    }
    let root = args.state_dir.join("sqlite");
    std::fs::create_dir_all(&root)
        .with_context(|| format!("Failed to create {}", root.display()))?;
    let notes = root.join(NOTES_FILE);
    if !notes.exists() {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&notes)
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("Failed to create {}", notes.display()))?;
        sqlx::raw_sql(NOTES_SQL)
            .execute(&mut conn)
            .await
            .context("Failed to load the demo SQLite database")?;
        conn.close().await.ok();
    }
    std::path::absolute(&root).context("Failed to resolve the SQLite root")
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{contents}\n"))
        .with_context(|| format!("Failed to write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn write_env_file(
    args: &DevArgs,
    base: &str,
    api_key: &str,
    connection_id: &str,
) -> anyhow::Result<()> {
    let contents = format!(
        "export SCHEMATA_URL={base}\nexport SCHEMATA_API_KEY={api_key}\nexport DEMO_CONNECTION_ID={connection_id}"
    );
    write_private(&args.state_dir.join("env"), &contents)
}

fn policy_notice(policy: &schemata_sources::PolicySettings) -> String {
    let networks = if policy.deny_networks.is_empty() && !policy.deny_host_addresses {
        "no network is denied (loopback included)".to_owned()
    } else {
        format!(
            "denied networks {}",
            policy
                .deny_networks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let own_server = if policy.allow_sources_on_own_server {
        "other databases of this PostgreSQL server are allowed as sources"
    } else {
        "this PostgreSQL server is refused as a source"
    };
    format!(
        "Access policy (development): {networks}; {own_server}. `schemata api` and `schemata worker` \
         refuse loopback, link-local and every database of their own server unless configured to allow them."
    )
}

fn print_banner(
    base: &str,
    ops_port: u16,
    api_key: &str,
    connection_id: &str,
    args: &DevArgs,
    sqlite_root: &std::path::Path,
) {
    let env = args.state_dir.join("env");
    println!(
        "
Schemata is running.
  API          {base}   (health: {base}/healthz, readiness: {base}/readyz)
  Worker       http://127.0.0.1:{ops_port}/healthz
  Operator     {base}/ui   (paste the API key below)   API docs {base}/docs
  API key      {api_key}
  Demo source  connection {connection_id} (`{DEMO_CONNECTION}`, a small shop)
  SQLite root  {sqlite_root} (try {{\"type\": \"sqlite\", \"configuration\": {{\"path\": \"{NOTES_FILE}\"}}}})

In another terminal:
  source {env}
  curl -si -X POST -H \"Authorization: Bearer $SCHEMATA_API_KEY\" $SCHEMATA_URL/api/connections/$DEMO_CONNECTION_ID/schemas/refresh
  curl -s -H \"Authorization: Bearer $SCHEMATA_API_KEY\" $SCHEMATA_URL/api/connections/$DEMO_CONNECTION_ID/schemas/status
  cargo run -q --bin schemata -- refresh demo-shop --wait

Stop with Ctrl-C.",
        env = env.display(),
        sqlite_root = sqlite_root.display()
    );
}
