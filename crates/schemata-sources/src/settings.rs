//! What the operator configures about sources: the limits of every conversation
//! with one, and the access policy. Read from the environment in `main` only.

use crate::{PolicySettings, SourceLimits};
use schemata_config::{env_opt, env_or, env_set};
use std::{path::PathBuf, time::Duration};

#[derive(Debug, Clone, Default)]
pub struct SourceSettings {
    pub limits: SourceLimits,
    pub policy: PolicySettings,
}

impl SourceSettings {
    pub fn from_env() -> Result<Self, String> {
        let defaults = SourceLimits::default();
        let deny_networks = env_set("SCHEMATA_SOURCE_DENY_NETWORKS");
        Ok(Self {
            limits: SourceLimits {
                connect_timeout: Duration::from_secs(env_or("SCHEMATA_HEALTH_TIMEOUT_SECS", 5)?),
                statement_timeout: Duration::from_secs(env_or(
                    "SCHEMATA_SOURCE_STATEMENT_TIMEOUT_SECS",
                    30,
                )?),
                lock_timeout: Duration::from_millis(env_or(
                    "SCHEMATA_SOURCE_LOCK_TIMEOUT_MS",
                    5000,
                )?),
                max_objects: env_or("SCHEMATA_SOURCE_MAX_OBJECTS", defaults.max_objects)?,
                max_columns: env_or("SCHEMATA_SOURCE_MAX_COLUMNS", defaults.max_columns)?,
                max_bytes: env_or("SCHEMATA_SOURCE_MAX_BYTES", defaults.max_bytes)?,
                dynamodb_sample_items: env_or(
                    "SCHEMATA_DYNAMODB_SAMPLE_ITEMS",
                    defaults.dynamodb_sample_items,
                )?,
                dynamodb_sample_pages: env_or(
                    "SCHEMATA_DYNAMODB_SAMPLE_PAGES",
                    defaults.dynamodb_sample_pages,
                )?,
                dynamodb_resample_after: Duration::from_secs(env_or(
                    "SCHEMATA_DYNAMODB_RESAMPLE_SECS",
                    3600,
                )?),
            },
            policy: PolicySettings {
                // Set, even to nothing, it is what the operator says; unset,
                // the safe default (and this host's own addresses).
                deny_networks: PolicySettings::parse_networks(
                    deny_networks
                        .as_deref()
                        .unwrap_or(crate::policy::DEFAULT_DENY_NETWORKS),
                )
                .map_err(|e| format!("SCHEMATA_SOURCE_DENY_NETWORKS: {e}"))?,
                deny_host_addresses: deny_networks.is_none(),
                allow_sources_on_own_server: env_or("SCHEMATA_ALLOW_SOURCES_ON_OWN_SERVER", false)?,
                sqlite_root: env_opt("SCHEMATA_SQLITE_ROOT").map(PathBuf::from),
                aws_credentials: aws_credentials()?,
            },
        })
    }
}

/// The process's AWS credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), read only when `SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS`
/// is `true`: on a server several organizations use, a tenant must never
/// read DynamoDB with the operator's keys.
fn aws_credentials() -> Result<Option<crate::AwsCredentials>, String> {
    if !env_or("SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS", false)? {
        return Ok(None);
    }
    let required = |name: &str| {
        env_opt(name).ok_or_else(|| {
            format!("SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS is true but {name} is not set")
        })
    };
    Ok(Some(crate::AwsCredentials {
        access_key_id: required("AWS_ACCESS_KEY_ID")?,
        secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
        session_token: env_opt("AWS_SESSION_TOKEN"),
    }))
}
