//! Our migrations and apalis-postgres's, run together and checked at start.

use crate::StoreError;
use apalis_postgres::PostgresStorage;
use sqlx::{PgPool, migrate::Migrator};
use std::collections::HashSet;

/// Schemata's own migrations; history in `public._sqlx_migrations`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Applies the job queue's migrations (schema `apalis`) and ours.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    // apalis needs hstore; creating it first gives a clear error if the role may not.
    sqlx::query("CREATE EXTENSION IF NOT EXISTS hstore")
        .execute(pool)
        .await?;
    let mut queue = PostgresStorage::migrations();
    queue.set_ignore_missing(true);
    queue.run(pool).await.map_err(sqlx::Error::from)?;
    let mut ours = Migrator {
        migrations: MIGRATOR.migrations.clone(),
        ..Migrator::DEFAULT
    };
    ours.set_ignore_missing(true);
    ours.run(pool).await.map_err(sqlx::Error::from)?;
    Ok(())
}

/// Refuses a database that lacks any migration this build knows of.
pub async fn check_migrated(pool: &PgPool) -> Result<(), StoreError> {
    check_history(pool, "public._sqlx_migrations", &MIGRATOR, "schemata").await?;
    check_history(
        pool,
        "apalis._sqlx_migrations",
        &PostgresStorage::migrations(),
        "job queue",
    )
    .await
}

async fn check_history(
    pool: &PgPool,
    table: &str,
    migrator: &Migrator,
    what: &str,
) -> Result<(), StoreError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(pool)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotMigrated(format!(
            "the {what} tables do not exist"
        )));
    }
    let applied: HashSet<i64> = match table {
        "public._sqlx_migrations" => {
            sqlx::query_scalar("SELECT version FROM public._sqlx_migrations WHERE success")
        }
        _ => sqlx::query_scalar("SELECT version FROM apalis._sqlx_migrations WHERE success"),
    }
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let missing: Vec<String> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::NotMigrated(format!(
            "{} {what} migration(s) pending ({})",
            missing.len(),
            missing.join(", ")
        )))
    }
}

/// How long a readiness probe waits for our database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Readiness: our database answers within a second and has every migration.
/// A database that hangs (stopped, partitioned) fails the probe in time.
pub async fn check_ready(pool: &PgPool) -> Result<(), StoreError> {
    tokio::time::timeout(READY_TIMEOUT, check_migrated(pool))
        .await
        .unwrap_or(Err(StoreError::Database(sqlx::Error::PoolTimedOut)))
}
