//! HTTP destinations (webhook receivers, DynamoDB endpoints): reqwest clients
//! that reach only the addresses the access policy checked for them.

use crate::{AccessPolicy, SourceError};
use std::net::SocketAddr;
use url::{Host, Url};

/// reqwest is built with rustls but without a crypto provider (aws-lc-rs is
/// a C build): ring, which sqlx already links. Every process that builds a
/// reqwest client calls this first; a second call keeps the first provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Every address `url`'s host resolves to (with the URL's port), each one
/// allowed by the policy; a host that also resolves somewhere denied is refused.
pub async fn checked_addresses(
    policy: &AccessPolicy,
    url: &Url,
) -> Result<Vec<SocketAddr>, SourceError> {
    let host =
        host_of(url).ok_or_else(|| SourceError::Configuration("the URL names no host".into()))?;
    policy
        .http_addresses(&host, url.port_or_known_default().unwrap_or(443))
        .await
}

/// A client builder for `url`, pinned to its [`checked_addresses`]: no proxy
/// from the environment (it would resolve the host itself, after the check)
/// and no redirects (a destination the policy never saw). Callers add timeouts.
pub async fn pinned_client(
    policy: &AccessPolicy,
    url: &Url,
) -> Result<reqwest::ClientBuilder, SourceError> {
    install_crypto_provider();
    let addresses = checked_addresses(policy, url).await?;
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    Ok(match url.domain() {
        Some(domain) => builder.resolve_to_addrs(domain, &addresses),
        None => builder,
    })
}

/// A [`pinned_client`] whose resolution, connection and every request are
/// bounded by `timeout`: the client a source or STS is spoken to with.
pub(crate) async fn timed_pinned_client(
    policy: &AccessPolicy,
    url: &Url,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, SourceError> {
    tokio::time::timeout(timeout, pinned_client(policy, url))
        .await
        .map_err(|_| SourceError::Timeout(timeout))??
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|_| SourceError::Unreachable)
}

/// A request that got no answer: past its deadline, or unreachable (the
/// details go to the operator's log only, as `who` unreachable).
pub(crate) fn send_error(
    error: reqwest::Error,
    timeout: std::time::Duration,
    who: &str,
) -> SourceError {
    if error.is_timeout() {
        SourceError::Timeout(timeout)
    } else {
        tracing::info!(
            error = %crate::error::bounded(&error.without_url().to_string()),
            "{who} unreachable"
        );
        SourceError::Unreachable
    }
}

/// An answer's body, refused past `max` bytes (by its declared length, or
/// as it arrives); `who` names the sender in the error.
pub(crate) async fn read_bounded(
    mut answer: reqwest::Response,
    max: usize,
    who: &str,
) -> Result<Vec<u8>, SourceError> {
    let too_large =
        || SourceError::TooLarge(format!("{who} sent an answer larger than {} MB", max >> 20));
    if answer.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|_| SourceError::Unreachable)? {
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The host as it resolves: a name, or an address literal without brackets.
fn host_of(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(domain) => Some(domain.to_owned()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_without_brackets() {
        let host = |raw: &str| host_of(&Url::parse(raw).unwrap());
        assert_eq!(host("http://[::1]/").as_deref(), Some("::1"));
        assert_eq!(
            host("https://127.0.0.1:8443/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            host("https://hooks.example.com/").as_deref(),
            Some("hooks.example.com")
        );
    }
}
