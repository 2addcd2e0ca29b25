use schemata_store::local_server::{ClusterAuth, LocalServer, find_or_start, start_private};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};
use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::sync::OnceCell;

static SERVER: OnceCell<LocalServer> = OnceCell::const_new();

/// Test databases older than this are dropped by later runs (left by crashed tests).
const STALE_AFTER_SECS: u64 = 3 * 3600;

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The server all tests of this process use, found or started once.
pub async fn server() -> &'static LocalServer {
    SERVER
        .get_or_init(|| async {
            let explicit = std::env::var("SCHEMATA_TEST_DATABASE_URL")
                .or_else(|_| std::env::var("DATABASE_URL"))
                .ok();
            let server = find_or_start(
                explicit.as_deref(),
                &workspace_dir().join("target/schemata-test-postgres"),
            )
            .await
            .unwrap_or_else(|e| panic!("no PostgreSQL for tests: {e}"));
            drop_stale_databases(&server).await;
            server
        })
        .await
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Creates an empty, uniquely named database; returns its URL.
pub async fn fresh_database(purpose: &str) -> String {
    let server = server().await;
    let name = format!(
        "schemata_t_{}_{}_{}",
        now_secs(),
        purpose,
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    server
        .ensure_database(&name)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
    server.database_url(&name)
}

/// A fresh Schemata database with every migration applied.
pub async fn migrated_database() -> (String, PgPool) {
    let url = fresh_database("app").await;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await
        .expect("connect to the test database");
    schemata_store::migrate(&pool)
        .await
        .expect("migrate the test database");
    (url, pool)
}

/// A fresh source database loaded with `sql` (a schema dump such as pagila).
pub async fn source_database(sql: &str) -> String {
    let url = fresh_database("src").await;
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("connect to the source database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("load the source schema");
    // Fill reltuples so row estimates are real numbers.
    sqlx::raw_sql("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze the source");
    conn.close().await.ok();
    url
}

/// A file of `../shared/fixtures` (or `SCHEMATA_FIXTURES_DIR`).
pub fn fixture(name: &str) -> String {
    let dir = std::env::var_os("SCHEMATA_FIXTURES_DIR")
        .map_or_else(|| workspace_dir().join("../shared/fixtures"), PathBuf::from);
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

async fn drop_stale_databases(server: &LocalServer) {
    let Ok(mut conn) = PgConnection::connect(&server.database_url("postgres")).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'schemata\\_t\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let cutoff = now_secs().saturating_sub(STALE_AFTER_SECS);
    for name in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if created < cutoff && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A private cluster that checks passwords (SCRAM), for tests of bad credentials.
/// Its URL carries the right password, `schemata-test`.
pub async fn password_protected_server() -> LocalServer {
    static PROTECTED: OnceCell<LocalServer> = OnceCell::const_new();
    PROTECTED
        .get_or_init(|| async {
            start_private(
                &workspace_dir().join("target/schemata-test-postgres-scram"),
                54330,
                ClusterAuth::Password("schemata-test"),
            )
            .await
            .unwrap_or_else(|e| panic!("cannot start a password-protected PostgreSQL: {e}"))
        })
        .await
        .clone()
}
