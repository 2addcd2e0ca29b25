//! Databases for tests: each test creates its own and drops it when it ends
//! (panics included); a private cluster started for tests is stopped when the
//! last test using it lets go.

use crate::holders::ProcessHold;
use schemata_localpg::{ClusterAuth, LocalServer, find_or_start, start_private, stop_private};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};
use std::{ops::Deref, path::PathBuf};
use tokio::sync::Mutex;

/// Ports of the clusters tests may start, apart from `schemata dev`'s 54329.
/// Fixed ports of the private servers, below Linux's ephemeral range
/// (32768–60999): a port in it can be taken at any moment by one of the
/// tests' own client sockets, and the server then fails to start.
const TEST_CLUSTER_PORT: u16 = 25439;
const PASSWORD_CLUSTER_PORT: u16 = 25440;
/// The password of the password-protected cluster's `postgres` user.
pub const PROTECTED_PASSWORD: &str = "schemata-test";

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A server shared by the tests of this process, how many hold it, and this
/// process's hold on it among other test processes.
struct Shared {
    users: usize,
    server: Option<LocalServer>,
    hold: Option<ProcessHold>,
    /// The file test processes lock while they use the server.
    holders: &'static str,
}

static TRUST: Mutex<Shared> = Mutex::const_new(Shared {
    users: 0,
    server: None,
    hold: None,
    holders: "target/schemata-test-postgres.holders",
});
static PROTECTED: Mutex<Shared> = Mutex::const_new(Shared {
    users: 0,
    server: None,
    hold: None,
    holders: "target/schemata-test-postgres-scram.holders",
});

/// A hold on a shared server: while any exists, the server stays up.
pub struct ServerLease {
    server: LocalServer,
    shared: &'static Mutex<Shared>,
}

impl Deref for ServerLease {
    type Target = LocalServer;

    fn deref(&self) -> &LocalServer {
        &self.server
    }
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        let shared = self.shared;
        // Outside the test's runtime, so the last one out can stop the cluster.
        let _ = std::thread::spawn(move || {
            let mut shared = shared.blocking_lock();
            shared.users -= 1;
            if shared.users > 0 {
                return;
            }
            let server = shared.server.take();
            // Stopped only when no other test process holds it.
            let alone = shared.hold.take().and_then(ProcessHold::release);
            if let (Some(_alone), Some(dir)) = (alone, server.and_then(|s| s.private_dir))
                && let Err(error) = stop_private(&dir)
            {
                eprintln!(
                    "could not stop the test cluster in {}: {error}",
                    dir.display()
                );
            }
        })
        .join();
    }
}

async fn lease(
    shared: &'static Mutex<Shared>,
    start: impl AsyncFnOnce() -> Result<LocalServer, String>,
) -> ServerLease {
    let mut guard = shared.lock().await;
    if guard.server.is_none() {
        // Before looking for the server: a process stopping it finishes first.
        let holders = workspace_dir().join(guard.holders);
        guard.hold = Some(ProcessHold::take(&holders));
        let _starting = ProcessHold::starting(&holders);
        let server = start()
            .await
            .unwrap_or_else(|e| panic!("no PostgreSQL for tests: {e}"));
        guard.server = Some(server);
    }
    guard.users += 1;
    ServerLease {
        server: guard.server.clone().expect("set above"),
        shared,
    }
}

/// The server tests use: `SCHEMATA_TEST_DATABASE_URL` or `DATABASE_URL` if set,
/// else 127.0.0.1:5432, else a private cluster under `target/`.
pub async fn server() -> ServerLease {
    lease(&TRUST, async || {
        let explicit = std::env::var("SCHEMATA_TEST_DATABASE_URL")
            .or_else(|_| std::env::var("DATABASE_URL"))
            .ok();
        find_or_start(
            explicit.as_deref(),
            &workspace_dir().join("target/schemata-test-postgres"),
            TEST_CLUSTER_PORT,
        )
        .await
    })
    .await
}

/// A private cluster that checks passwords (SCRAM), for tests of credentials.
/// Its URLs carry the right password, [`PROTECTED_PASSWORD`].
pub async fn password_protected_server() -> ServerLease {
    lease(&PROTECTED, async || {
        start_private(
            &workspace_dir().join("target/schemata-test-postgres-scram"),
            PASSWORD_CLUSTER_PORT,
            ClusterAuth::Password(PROTECTED_PASSWORD),
        )
        .await
    })
    .await
}

/// A database that exists for as long as this value: dropped when it goes.
pub struct TestDatabase {
    name: String,
    url: String,
    server: ServerLease,
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same database reached with other credentials or options.
    pub fn server(&self) -> &LocalServer {
        &self.server
    }
}

impl Deref for TestDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.server.database_url("postgres");
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    // `name` is ours: schemata_t_ plus lowercase letters, digits and _.
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Creates an empty, uniquely named database on the tests' server.
pub async fn fresh_database(purpose: &str) -> TestDatabase {
    create_on(server().await, purpose).await
}

async fn create_on(server: ServerLease, purpose: &str) -> TestDatabase {
    let name = format!(
        "schemata_t_{purpose}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    server
        .ensure_database(&name)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
    TestDatabase {
        url: server.database_url(&name),
        name,
        server,
    }
}

/// A fresh database on the password-protected cluster.
pub async fn protected_database(purpose: &str) -> TestDatabase {
    create_on(password_protected_server().await, purpose).await
}

/// A fresh Schemata database with every migration applied.
pub async fn migrated_database() -> (TestDatabase, PgPool) {
    let database = fresh_database("app").await;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&database)
        .await
        .expect("connect to the test database");
    schemata_store::migrate(&pool)
        .await
        .expect("migrate the test database");
    (database, pool)
}

/// A fresh source database loaded with `sql` (a schema dump such as pagila).
pub async fn source_database(sql: &str) -> TestDatabase {
    let database = fresh_database("src").await;
    load(&database, sql).await;
    database
}

/// Runs `sql` on a database, then ANALYZE so row estimates are real numbers.
pub async fn load(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .expect("connect to the source database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("load the source schema");
    sqlx::raw_sql("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze the source");
    conn.close().await.ok();
}

/// A file of `crates/schemata-testkit/fixtures/` (or `SCHEMATA_FIXTURES_DIR`).
pub fn fixture(name: &str) -> String {
    let dir = std::env::var_os("SCHEMATA_FIXTURES_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
        PathBuf::from,
    );
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}
