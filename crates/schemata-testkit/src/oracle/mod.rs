//! The oracle of the cache: a seeded random walk of DDL on a real source,
//! interleaved with refreshes of every kind (hard, soft, partial, cancelled,
//! one whose worker dies) and changes of the connection's filters. After
//! every hard refresh the cache must equal what a brand-new connection's
//! first full refresh of the same source gives, object by object and field by
//! field; a failure prints the seed, the step, the last actions and the diff.
//!
//! `SCHEMATA_ORACLE_STEPS` and `SCHEMATA_ORACLE_SEED` choose the walk (`just
//! fuzz-refresh STEPS SEED`); the test suite walks a fixed budget with a new
//! seed each run.

mod diff;
mod mariadb;
mod postgres;
mod rng;
mod runner;
mod snowflake;
mod sqlite;

pub use mariadb::MariaDbSource;
pub use postgres::PostgresSource;
pub use rng::Rng;
pub use runner::{Oracle, Report};
pub use snowflake::SnowflakeSource;
pub use sqlite::SqliteSource;

use schemata_core::SchemaId;
use serde_json::Value;

/// What the next change can pick from: the source's schemas and objects now.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub schemas: Vec<String>,
    /// Tables and views, with whether each is a table (`true`) or a view.
    pub objects: Vec<(SchemaId, bool)>,
}

impl Catalog {
    pub fn tables(&self) -> Vec<&SchemaId> {
        self.objects
            .iter()
            .filter(|(_, table)| *table)
            .map(|(id, _)| id)
            .collect()
    }

    pub fn views(&self) -> Vec<&SchemaId> {
        self.objects
            .iter()
            .filter(|(_, table)| !*table)
            .map(|(id, _)| id)
            .collect()
    }
}

/// A source the oracle changes at random.
#[allow(async_fn_in_trait)]
pub trait Dialect {
    /// The connection `type` and its `configuration`.
    fn kind(&self) -> &'static str;
    fn configuration(&self) -> Value;
    /// The same source in another form of configuration (discrete fields
    /// for a URL, a URL for a path): a change of configuration that keeps
    /// the source, which must still leave the cache stale until read again.
    fn other_configuration(&self) -> Value;
    /// The schemas a `schema_filter` may name for this source.
    fn filterable_schemas(&self, catalog: &Catalog) -> Vec<String> {
        catalog.schemas.clone()
    }
    /// What the source holds now.
    async fn catalog(&mut self) -> Catalog;
    /// One random DDL change: its text, or why the source refused it (the
    /// walk goes on; refusals are part of a random walk).
    async fn change(&mut self, rng: &mut Rng, catalog: &Catalog) -> Result<String, String>;
}

/// Steps and seed of a walk: the environment's, else `steps` and a new seed.
pub fn budget(steps: usize) -> (usize, u64) {
    let steps = std::env::var("SCHEMATA_ORACLE_STEPS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(steps);
    let seed = std::env::var("SCHEMATA_ORACLE_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    (steps, seed)
}

/// Runs DDL on a source (one statement or a `;`-separated few): its text,
/// or why the source refused it.
pub(crate) async fn run_ddl<'c, E, DB>(executor: E, sql: String) -> Result<String, String>
where
    E: sqlx::Executor<'c, Database = DB>,
    DB: sqlx::Database,
{
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(executor)
        .await
    {
        Ok(_) => Ok(sql),
        Err(error) => Err(format!("{sql} ({error})")),
    }
}

/// Names for new objects: one of a list, half the time with a counter that
/// keeps it new.
#[derive(Debug, Default)]
pub(crate) struct Names(usize);

impl Names {
    pub fn next(&mut self, rng: &mut Rng, names: &[&str]) -> String {
        self.0 += 1;
        let base = rng.pick(names).copied().unwrap_or("t");
        if rng.chance(50) {
            base.to_owned()
        } else {
            format!("{base}{}", self.0)
        }
    }

    /// How many names were given so far: a number for comments and values.
    pub fn count(&self) -> usize {
        self.0
    }
}

/// A database URL as discrete fields (`host`, `port`, `user`, `database`).
pub(crate) fn discrete_fields(url: &str) -> Value {
    let url = url::Url::parse(url).expect("a test database URL");
    let mut fields = serde_json::json!({
        "host": url.host_str().unwrap_or("127.0.0.1"),
        "port": url.port().unwrap_or(5432),
        "user": url.username(),
        "database": url.path().trim_start_matches('/'),
    });
    if let Some(password) = url.password() {
        fields["password"] = serde_json::json!(password);
    }
    fields
}

/// `name` as a double-quoted SQL identifier (PostgreSQL, SQLite).
pub(crate) fn double_quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.name` as a qualified, double-quoted SQL name.
pub(crate) fn qualified(id: &SchemaId) -> String {
    format!("{}.{}", double_quoted(&id.schema), double_quoted(&id.name))
}
