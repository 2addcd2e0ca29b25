//! What the operator configures about sources: the limits of every conversation
//! with one, and the access policy. Read from the environment once, at startup.

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
                role_identity: role_identity()?,
                sts_endpoint: sts_endpoint()?,
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

/// The deployment's identity for assuming DynamoDB connections' roles:
/// `SCHEMATA_AWS_ACCESS_KEY_ID`, `SCHEMATA_AWS_SECRET_ACCESS_KEY` and
/// optionally `SCHEMATA_AWS_SESSION_TOKEN` (apart from `AWS_*`, which the
/// lending setting reads, so one is never mistaken for the other).
fn role_identity() -> Result<Option<crate::AwsCredentials>, String> {
    match (
        env_opt("SCHEMATA_AWS_ACCESS_KEY_ID"),
        env_opt("SCHEMATA_AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(crate::AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: env_opt("SCHEMATA_AWS_SESSION_TOKEN"),
        })),
        (None, None) => Ok(None),
        _ => Err(
            "set both SCHEMATA_AWS_ACCESS_KEY_ID and SCHEMATA_AWS_SECRET_ACCESS_KEY, or neither"
                .into(),
        ),
    }
}

fn sts_endpoint() -> Result<Option<String>, String> {
    let Some(endpoint) = env_opt("SCHEMATA_AWS_STS_ENDPOINT") else {
        return Ok(None);
    };
    match url::Url::parse(&endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(endpoint))
        }
        _ => Err("SCHEMATA_AWS_STS_ENDPOINT is an http(s) URL".into()),
    }
}

impl PolicySettings {
    /// `schemata dev`: the demo source lives on this machine, beside
    /// Schemata's own database, so loopback and the other databases of that
    /// server are sources, unless the environment says otherwise, each
    /// setting apart (one given keeps its value, one left out takes the
    /// developer's default). Schemata's own database stays refused.
    pub fn on_developer_machine(&mut self) {
        self.on_developer_machine_given(
            env_set("SCHEMATA_SOURCE_DENY_NETWORKS").is_some(),
            env_set("SCHEMATA_ALLOW_SOURCES_ON_OWN_SERVER").is_some(),
        );
    }

    fn on_developer_machine_given(&mut self, deny_networks_given: bool, own_server_given: bool) {
        let development = Self::local_development();
        if !deny_networks_given {
            self.deny_networks = development.deny_networks;
            self.deny_host_addresses = development.deny_host_addresses;
        }
        if !own_server_given {
            self.allow_sources_on_own_server = development.allow_sources_on_own_server;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::PolicySettings;

    #[test]
    fn each_policy_setting_given_keeps_its_value_and_each_left_out_takes_the_developers() {
        let development = PolicySettings::local_development();
        let refused = PolicySettings {
            allow_sources_on_own_server: false,
            ..PolicySettings::default()
        };

        let mut nothing_given = refused.clone();
        nothing_given.on_developer_machine_given(false, false);
        assert_eq!(nothing_given.deny_networks, development.deny_networks);
        assert!(nothing_given.allow_sources_on_own_server);

        // The operator refused the own server: dev does not overrule it.
        let mut own_server_refused = refused.clone();
        own_server_refused.on_developer_machine_given(false, true);
        assert!(!own_server_refused.allow_sources_on_own_server);
        assert_eq!(own_server_refused.deny_networks, development.deny_networks);

        // The operator chose networks: they stay, the own server is allowed.
        let mut networks_chosen = refused.clone();
        networks_chosen.deny_networks = vec!["10.0.0.0/8".parse().unwrap()];
        networks_chosen.on_developer_machine_given(true, false);
        assert_eq!(
            networks_chosen.deny_networks,
            vec!["10.0.0.0/8".parse().unwrap()]
        );
        assert!(networks_chosen.allow_sources_on_own_server);
    }
}
