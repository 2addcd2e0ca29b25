//! What every process that talks to our database needs: where it is, and the key
//! that opens stored credentials. Read from the environment only in `main`.

use crate::{SecretBox, StoreError, check_migrated};
use schemata_config::env_or;
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::time::Duration;

/// How long a request waits for a connection of our pool by default.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The development default: the local PostgreSQL with trust auth.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/schemata";

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub database_url: String,
    pub max_connections: u32,
    /// 64 hex characters; see `SCHEMATA_ENCRYPTION_KEY`.
    pub encryption_key: String,
    /// Longest wait for a pooled connection: while our database is down,
    /// requests fail with 503 after this instead of hanging.
    pub acquire_timeout: Duration,
}

/// `DATABASE_URL`, or the local default when unset or blank: every command
/// that opens our database reads it here.
pub fn database_url_from_env() -> Result<String, String> {
    env_or("DATABASE_URL", DEFAULT_DATABASE_URL.to_owned())
}

/// `SCHEMATA_ENCRYPTION_KEY`, when set and not blank.
pub fn encryption_key_from_env() -> Option<String> {
    schemata_config::env_opt("SCHEMATA_ENCRYPTION_KEY")
}

impl StoreSettings {
    pub fn from_env() -> Result<Self, String> {
        let encryption_key = encryption_key_from_env().ok_or_else(|| {
            "SCHEMATA_ENCRYPTION_KEY is not set: it must hold 64 hex characters (generate one with `openssl rand -hex 32`)"
                .to_owned()
        })?;
        Self::for_database(database_url_from_env()?, encryption_key, 10)
    }

    /// The settings of a pool on `database_url` (found or started by the
    /// caller, as `schemata dev` does), its size and waits from the
    /// environment: `default_max_connections` when it does not say.
    pub fn for_database(
        database_url: String,
        encryption_key: String,
        default_max_connections: u32,
    ) -> Result<Self, String> {
        Ok(Self {
            database_url,
            max_connections: env_or("SCHEMATA_DATABASE_MAX_CONNECTIONS", default_max_connections)?,
            acquire_timeout: Duration::from_millis(env_or(
                "SCHEMATA_DATABASE_ACQUIRE_TIMEOUT_MS",
                DEFAULT_ACQUIRE_TIMEOUT.as_millis() as u64,
            )?),
            encryption_key,
        })
    }

    pub fn secret_box(&self) -> Result<SecretBox, String> {
        SecretBox::from_hex(&self.encryption_key)
    }

    /// A pool on a database that has every migration this build knows of.
    pub async fn connect_migrated(&self) -> Result<PgPool, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            // No ping before each use: it was a round trip on every request
            // (half the database's work for a status read). A connection
            // that died is found by the query that uses it, which answers
            // 503 `unavailable`, and sqlx closes it rather than pool it again.
            .test_before_acquire(false)
            .connect(&self.database_url)
            .await?;
        check_migrated(&pool).await?;
        Ok(pool)
    }
}
