//! The one access policy every destination passes before Schemata connects to it:
//! sources (PostgreSQL, MySQL, SQLite files) and, later, webhook receivers.
//!
//! - Schemata's own database is never a source: refused when the address, port
//!   and database match it, and (PostgreSQL) when the session it reaches carries
//!   the `schemata.instance` marker our migrations set on our database.
//! - Nor, unless the operator allows it (`SCHEMATA_ALLOW_SOURCES_ON_OWN_SERVER`,
//!   for single-tenant installs), any other database of that server: one
//!   tenant's connection must not read another's database there.
//! - `SCHEMATA_SOURCE_DENY_NETWORKS`: CIDRs checked on the address actually
//!   connected to (sqlx resolves through our guard, so a DNS answer that changes
//!   between check and connect cannot slip through). Unset, loopback,
//!   link-local (cloud metadata included) and unspecified addresses are
//!   denied ([`DEFAULT_DENY_NETWORKS`]); set, exactly what it lists.
//! - `SCHEMATA_SQLITE_ROOT`: the only directory SQLite files are opened from,
//!   symlinks resolved.

use crate::SourceError;
use ipnet::IpNet;
use sqlx_core::net::ConnectGuard;
use std::{
    io,
    net::{IpAddr, SocketAddr},
    path::{Component, Path, PathBuf},
    sync::Arc,
};

/// Recommended `SCHEMATA_SOURCE_DENY_NETWORKS` for multi-tenant deployments:
/// loopback, link-local (cloud metadata at 169.254.169.254 included), private
/// ranges, carrier-grade NAT, unspecified and multicast addresses.
pub const RECOMMENDED_DENY_NETWORKS: &str = "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7,0.0.0.0/8,::/128,224.0.0.0/4,ff00::/8";

/// What is denied when `SCHEMATA_SOURCE_DENY_NETWORKS` is not set: this
/// machine's loopback, link-local addresses (169.254.169.254, the cloud
/// metadata service, among them; AWS's IPv6 one too) and unspecified
/// addresses. A tenant has no business with any of them.
pub const DEFAULT_DENY_NETWORKS: &str =
    "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,fd00:ec2::254/128,0.0.0.0/8,::/128";

/// Marker message callers see; details go to the operator's log only.
const REFUSED: &str = "refused by policy";

/// What the operator configures. The default is safe for a server several
/// organizations share.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub deny_networks: Vec<IpNet>,
    /// Deny this host's own interface addresses too (each of them, as found
    /// at start): a service bound to every interface is loopback by another
    /// name. On with the default denied networks, off when the operator lists
    /// them.
    pub deny_host_addresses: bool,
    /// Other databases of Schemata's own server may be sources (never
    /// Schemata's own database): for single-tenant installs and `schemata dev`.
    pub allow_sources_on_own_server: bool,
    pub sqlite_root: Option<PathBuf>,
    /// The server's own AWS credentials, lent to DynamoDB connections that ask
    /// for `"credentials": "environment"`; None (the default) refuses them.
    pub aws_credentials: Option<AwsCredentials>,
    /// The deployment's own AWS identity (`SCHEMATA_AWS_*`), which signs STS
    /// `AssumeRole` for DynamoDB connections with a `role_arn` and nothing
    /// else: connections get the role's credentials, never these.
    pub role_identity: Option<AwsCredentials>,
    /// Where `AssumeRole` goes instead of `https://sts.<region>.amazonaws.com`
    /// (`SCHEMATA_AWS_STS_ENDPOINT`, for emulators): the operator's to set.
    pub sts_endpoint: Option<String>,
}

/// Static AWS credentials. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsCredentials({}, ********)", self.access_key_id)
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            deny_networks: Self::parse_networks(DEFAULT_DENY_NETWORKS)
                .expect("the default denied networks parse"),
            deny_host_addresses: true,
            allow_sources_on_own_server: false,
            sqlite_root: None,
            aws_credentials: None,
            role_identity: None,
            sts_endpoint: None,
        }
    }
}

impl PolicySettings {
    /// A developer's machine, where the sources live beside Schemata: no
    /// network denied, other databases of Schemata's own server allowed
    /// (`schemata dev`'s demo source, the test kit's). Schemata's own
    /// database stays refused.
    pub fn local_development() -> Self {
        Self {
            deny_networks: vec![],
            deny_host_addresses: false,
            allow_sources_on_own_server: true,
            ..Self::default()
        }
    }

    /// Parses a comma-separated list of CIDRs or single addresses.
    pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("`{entry}` is not a CIDR (e.g. 10.0.0.0/8) or an IP address")
                    })
            })
            .collect()
    }
}

/// Schemata's own database, as found at start.
#[derive(Debug, Clone)]
struct OwnDatabase {
    addresses: Vec<IpAddr>,
    port: u16,
    database: String,
}

/// Decides whether a destination may be reached. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    inner: Arc<PolicyInner>,
}

#[derive(Debug, Default)]
struct PolicyInner {
    deny_networks: Vec<IpNet>,
    own_databases: Vec<OwnDatabase>,
    allow_sources_on_own_server: bool,
    sqlite_root: Option<PathBuf>,
    aws_credentials: Option<AwsCredentials>,
    role_identity: Option<AwsCredentials>,
    sts_endpoint: Option<String>,
}

impl AccessPolicy {
    /// Builds the policy; `own_database_url` is Schemata's `DATABASE_URL`, resolved now.
    pub async fn build(settings: &PolicySettings, own_database_url: &str) -> Result<Self, String> {
        let sqlite_root = match &settings.sqlite_root {
            None => None,
            Some(root) => Some(std::fs::canonicalize(root).map_err(|e| {
                format!(
                    "SCHEMATA_SQLITE_ROOT `{}` cannot be used: {e}",
                    root.display()
                )
            })?),
        };
        let own = own_database(own_database_url).await?;
        let mut deny_networks = settings.deny_networks.clone();
        if settings.deny_host_addresses {
            deny_networks.extend(host_addresses().into_iter().map(IpNet::from));
        }
        Ok(Self {
            inner: Arc::new(PolicyInner {
                deny_networks,
                own_databases: own.into_iter().collect(),
                allow_sources_on_own_server: settings.allow_sources_on_own_server,
                sqlite_root,
                aws_credentials: settings.aws_credentials.clone(),
                role_identity: settings.role_identity.clone(),
                sts_endpoint: settings.sts_endpoint.clone(),
            }),
        })
    }

    /// Why `address` may not be connected to for `database`, if it may not.
    pub fn refusal(&self, address: SocketAddr, database: Option<&str>) -> Option<String> {
        let ip = address.ip().to_canonical();
        if let Some(net) = self.inner.deny_networks.iter().find(|n| n.contains(&ip)) {
            return Some(format!("{ip} is in denied network {net}"));
        }
        let own_server = self.inner.own_databases.iter().find(|own| {
            own.port == address.port() && (own.addresses.contains(&ip) || is_local(ip))
        })?;
        if database == Some(own_server.database.as_str()) {
            return Some(format!(
                "{address} database {database:?} is Schemata's own database"
            ));
        }
        (!self.inner.allow_sources_on_own_server).then(|| {
            format!(
                "{address} is Schemata's own database server (SCHEMATA_ALLOW_SOURCES_ON_OWN_SERVER is not set)"
            )
        })
    }

    /// Why an HTTP destination (a webhook receiver) may not be reached: the
    /// denied networks, and Schemata's own database server whatever the
    /// database, since no HTTP request has any business there.
    pub fn http_refusal(&self, address: SocketAddr) -> Option<String> {
        let ip = address.ip().to_canonical();
        if let Some(net) = self.inner.deny_networks.iter().find(|n| n.contains(&ip)) {
            return Some(format!("{ip} is in denied network {net}"));
        }
        let own =
            self.inner.own_databases.iter().any(|own| {
                own.port == address.port() && (own.addresses.contains(&ip) || is_local(ip))
            });
        own.then(|| format!("{address} is Schemata's own database server"))
    }

    /// The first of `addresses` the policy refuses for HTTP, if any.
    fn any_http_refusal(&self, addresses: &[SocketAddr]) -> Option<String> {
        addresses.iter().find_map(|a| self.http_refusal(*a))
    }

    /// A guard for sqlx's connect: every resolved address is checked before use.
    pub fn connect_guard(&self, database: Option<&str>) -> ConnectGuard {
        let policy = self.clone();
        let database = database.map(str::to_owned);
        Arc::new(
            move |address: SocketAddr| match policy.refusal(address, database.as_deref()) {
                None => Ok(()),
                Some(reason) => {
                    tracing::warn!(destination = %address, reason = %reason, "destination refused by the source access policy");
                    Err(io::Error::new(io::ErrorKind::PermissionDenied, REFUSED))
                }
            },
        )
    }

    /// Resolves an HTTP destination (`host`, `port`) for a client that then
    /// connects to these addresses only (the webhook sender pins them). Refused
    /// when any address is: a name that also points somewhere denied is not
    /// a name to send anything to.
    pub async fn http_addresses(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, SourceError> {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| SourceError::Unreachable)?
            .collect();
        if resolved.is_empty() {
            return Err(SourceError::Unreachable);
        }
        if let Some(reason) = self.any_http_refusal(&resolved) {
            tracing::warn!(host, reason = %reason, "HTTP destination refused by the access policy");
            return Err(SourceError::Refused);
        }
        Ok(resolved)
    }

    /// The real path of a SQLite file, which must lie under `SCHEMATA_SQLITE_ROOT`.
    pub fn sqlite_path(&self, raw: &str) -> Result<PathBuf, SourceError> {
        let Some(root) = &self.inner.sqlite_root else {
            return Err(SourceError::Configuration(
                "SQLite sources are disabled on this server (SCHEMATA_SQLITE_ROOT is not set)"
                    .into(),
            ));
        };
        let given = Path::new(raw);
        if given
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(SourceError::Refused);
        }
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            root.join(given)
        };
        if !joined.starts_with(root) {
            return Err(SourceError::Refused);
        }
        let real = match std::fs::canonicalize(&joined) {
            Ok(real) => real,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(SourceError::Configuration(format!(
                    "the SQLite file `{raw}` does not exist"
                )));
            }
            Err(_) => return Err(SourceError::Unreachable),
        };
        if !real.starts_with(root) {
            tracing::warn!(path = %raw, "SQLite path resolves outside SCHEMATA_SQLITE_ROOT");
            return Err(SourceError::Refused);
        }
        if !real.is_file() {
            return Err(SourceError::Configuration(format!("`{raw}` is not a file")));
        }
        Ok(real)
    }

    /// Whether other databases of Schemata's own server may be sources.
    pub fn allows_sources_on_own_server(&self) -> bool {
        self.inner.allow_sources_on_own_server
    }

    /// The server's own AWS credentials, when the operator lends them to
    /// DynamoDB connections (single-tenant deployments only).
    pub fn aws_credentials(&self) -> Option<&AwsCredentials> {
        self.inner.aws_credentials.as_ref()
    }

    /// The deployment's identity for STS `AssumeRole`.
    pub fn role_identity(&self) -> Option<&AwsCredentials> {
        self.inner.role_identity.as_ref()
    }

    /// The operator's STS endpoint, if not AWS's regional one.
    pub fn sts_endpoint(&self) -> Option<&str> {
        self.inner.sts_endpoint.as_deref()
    }

    /// Whether an I/O error is this policy's refusal (as opposed to a network failure).
    pub fn is_refusal(error: &io::Error) -> bool {
        error.kind() == io::ErrorKind::PermissionDenied && error.to_string() == REFUSED
    }
}

/// This host's interface addresses (none when they cannot be listed).
fn host_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .into_iter()
            .map(|interface| interface.ip().to_canonical())
            .collect(),
        Err(error) => {
            tracing::warn!(error = %error, "could not list this host's addresses to deny them");
            vec![]
        }
    }
}

/// Loopback and unspecified addresses may reach a server on this machine
/// whatever the address our own database was configured with.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

async fn own_database(url: &str) -> Result<Option<OwnDatabase>, String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(None);
    };
    let host = parsed
        .host_str()
        .unwrap_or("localhost")
        .trim_matches(['[', ']']);
    let port = parsed.port().unwrap_or(5432);
    let database = parsed.path().trim_start_matches('/');
    let user = parsed.username();
    let database = if database.is_empty() { user } else { database };
    let database = percent_encoding::percent_decode_str(database)
        .decode_utf8_lossy()
        .into_owned();
    let addresses = match tokio::net::lookup_host((host, port)).await {
        Ok(found) => found.map(|a| a.ip().to_canonical()).collect(),
        Err(error) => return Err(format!("cannot resolve the host of DATABASE_URL: {error}")),
    };
    Ok(Some(OwnDatabase {
        addresses,
        port,
        database,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn policy(deny: &str) -> AccessPolicy {
        let settings = PolicySettings {
            deny_networks: PolicySettings::parse_networks(deny).unwrap(),
            sqlite_root: None,
            ..PolicySettings::local_development()
        };
        AccessPolicy::build(&settings, "postgres://postgres@127.0.0.1:5432/schemata")
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn own_database_is_refused_on_every_local_address_but_others_are_not() {
        let policy = policy("").await;
        for address in [
            "127.0.0.1:5432",
            "127.0.0.2:5432",
            "[::1]:5432",
            "0.0.0.0:5432",
            "[::ffff:127.0.0.1]:5432",
        ] {
            let address: SocketAddr = address.parse().unwrap();
            assert!(
                policy.refusal(address, Some("schemata")).is_some(),
                "{address}"
            );
            assert!(policy.refusal(address, Some("shop")).is_none(), "{address}");
        }
        assert!(
            policy
                .refusal("127.0.0.1:5433".parse().unwrap(), Some("schemata"))
                .is_none()
        );
    }

    #[tokio::test]
    async fn by_default_loopback_link_local_and_every_database_of_our_server_are_refused() {
        let policy = AccessPolicy::build(
            &PolicySettings::default(),
            "postgres://postgres@10.0.0.5:5432/schemata",
        )
        .await
        .unwrap();
        for (address, database) in [
            ("127.0.0.1:5432", Some("shop")),
            ("127.0.0.1:3306", Some("shop")),
            ("[::1]:5432", None),
            ("169.254.169.254:80", None),
            ("[fe80::1]:5432", None),
            ("[fd00:ec2::254]:80", None),
            ("0.0.0.0:5432", None),
            ("[::ffff:127.0.0.1]:5432", None),
            // Another tenant's database on Schemata's own server.
            ("10.0.0.5:5432", Some("other_tenant")),
            ("10.0.0.5:5432", Some("schemata")),
        ] {
            let address: SocketAddr = address.parse().unwrap();
            assert!(
                policy.refusal(address, database).is_some(),
                "{address} {database:?}"
            );
        }
        assert!(
            policy
                .refusal("10.0.0.5:5433".parse().unwrap(), Some("shop"))
                .is_none(),
            "another port of that host is another server"
        );
        assert!(
            policy
                .refusal("10.0.0.9:5432".parse().unwrap(), Some("shop"))
                .is_none()
        );
        let single_tenant = AccessPolicy::build(
            &PolicySettings {
                allow_sources_on_own_server: true,
                ..PolicySettings::default()
            },
            "postgres://postgres@10.0.0.5:5432/schemata",
        )
        .await
        .unwrap();
        let own: SocketAddr = "10.0.0.5:5432".parse().unwrap();
        assert!(single_tenant.refusal(own, Some("shop")).is_none());
        assert!(single_tenant.refusal(own, Some("schemata")).is_some());
    }

    #[tokio::test]
    async fn http_destinations_never_reach_our_database_server() {
        let policy = policy("").await;
        // Whatever the database: an HTTP request has no business on that port.
        assert!(
            policy
                .http_refusal("127.0.0.1:5432".parse().unwrap())
                .is_some()
        );
        assert!(
            policy
                .http_refusal("127.0.0.1:8080".parse().unwrap())
                .is_none()
        );
        // A name that also resolves to our database server is refused whole.
        let public: SocketAddr = "93.184.216.34:5432".parse().unwrap();
        let own: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        assert!(policy.any_http_refusal(&[public]).is_none());
        assert!(policy.any_http_refusal(&[public, own]).is_some());
        let denying = self::policy("127.0.0.0/8").await;
        assert!(
            denying
                .http_refusal("127.0.0.1:8080".parse().unwrap())
                .is_some()
        );
    }

    #[tokio::test]
    async fn denied_networks_apply_to_mapped_addresses_too() {
        let policy = policy(RECOMMENDED_DENY_NETWORKS).await;
        for address in [
            "169.254.169.254:80",
            "10.1.2.3:5432",
            "[::ffff:10.0.0.1]:5432",
            "[::1]:5432",
            "192.168.1.1:3306",
        ] {
            assert!(
                policy.refusal(address.parse().unwrap(), None).is_some(),
                "{address}"
            );
        }
        assert!(
            policy
                .refusal("93.184.216.34:5432".parse().unwrap(), None)
                .is_none()
        );
        assert!(
            PolicySettings::parse_networks("10.0.0.0/8, 1.2.3.4")
                .unwrap()
                .len()
                == 2
        );
        assert!(PolicySettings::parse_networks("ten").is_err());
    }

    #[tokio::test]
    async fn sqlite_paths_must_stay_under_the_root() {
        let root = std::env::temp_dir().join(format!("schemata-policy-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("ok.db"), b"").unwrap();
        let outside = root.with_extension("outside.db");
        std::fs::write(&outside, b"").unwrap();
        let _ = std::fs::remove_file(root.join("link.db"));
        std::os::unix::fs::symlink(&outside, root.join("link.db")).unwrap();
        let settings = PolicySettings {
            sqlite_root: Some(root.clone()),
            ..PolicySettings::local_development()
        };
        let policy = AccessPolicy::build(&settings, "postgres://p@127.0.0.1/s")
            .await
            .unwrap();
        assert!(policy.sqlite_path("ok.db").is_ok());
        assert!(
            policy
                .sqlite_path(root.join("ok.db").to_str().unwrap())
                .is_ok()
        );
        for refused in [
            "../x.db",
            "/etc/passwd",
            "link.db",
            outside.to_str().unwrap(),
        ] {
            assert!(
                matches!(policy.sqlite_path(refused), Err(SourceError::Refused)),
                "{refused}"
            );
        }
        assert!(
            matches!(policy.sqlite_path("missing.db"), Err(SourceError::Configuration(m)) if m.contains("does not exist"))
        );
        let disabled = AccessPolicy::build(&PolicySettings::default(), "postgres://p@127.0.0.1/s")
            .await
            .unwrap();
        assert!(disabled.sqlite_path("ok.db").is_err());
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_file(&outside).unwrap();
    }
}
