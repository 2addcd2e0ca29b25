//! `postgres://user:password@host:port/database?sslmode=…` and its MySQL twin:
//! parsed into a [`NetworkEndpoint`] with a closed list of parameters, and
//! rendered back from one.

use super::{
    REDACTED, SourceConfigError, invalid,
    network::{Form, NetworkEndpoint, RawParts, SETTINGS, quoted},
};
use crate::SourceKind;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::Url;

/// Everything but RFC 3986's unreserved characters is encoded in userinfo and path.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// URL parameters that name the password or user instead of the userinfo.
const IDENTITY: [&str; 2] = ["password", "user"];

fn schemes(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::Mysql => &["mysql", "mariadb"],
        _ => &["postgres", "postgresql"],
    }
}

pub(super) fn parse(kind: SourceKind, raw: &str) -> Result<NetworkEndpoint, SourceConfigError> {
    let url = Url::parse(raw).map_err(|e| invalid(format!("`url` is not a valid URL: {e}")))?;
    let expected = schemes(kind);
    if !expected.contains(&url.scheme()) {
        return Err(invalid(format!(
            "`url` scheme `{}` does not match type `{kind}` (expected {})",
            url.scheme().chars().take(32).collect::<String>(),
            expected.join(" or ")
        )));
    }
    if url.fragment().is_some() {
        return Err(invalid("`url` must not have a #fragment"));
    }
    let host = url
        .host_str()
        .map(decode)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            invalid("`url` must name a host (unix sockets and empty hosts are not allowed)")
        })?;
    let database = url.path().strip_prefix('/').unwrap_or(url.path());
    if database.contains('/') {
        return Err(invalid("`url` path must be just the database name"));
    }
    let mut parts = RawParts {
        host,
        port: url.port().map(|p| p.to_string()),
        database: Some(decode(database)),
        user: Some(decode(url.username())).filter(|u| !u.is_empty()),
        password: url.password().map(decode),
        settings: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for (name, value) in url.query_pairs() {
        let name = name.into_owned();
        if seen.contains(&name) {
            return Err(invalid(format!(
                "URL parameter `{}` is given twice",
                name.chars().take(64).collect::<String>()
            )));
        }
        seen.push(name.clone());
        let slot = match name.as_str() {
            "password" => &mut parts.password,
            "user" => &mut parts.user,
            setting if SETTINGS.contains(&setting) => {
                parts.settings.push((name, value.into_owned()));
                continue;
            }
            _ => {
                refused.push(name);
                continue;
            }
        };
        if slot.is_some() {
            return Err(invalid(format!(
                "`{name}` is given both in the URL's userinfo and as a parameter"
            )));
        }
        *slot = Some(value.into_owned());
    }
    if !refused.is_empty() {
        refused.sort();
        refused.dedup();
        let names: Vec<&str> = refused.iter().map(String::as_str).collect();
        return Err(SourceConfigError::ParametersNotAllowed {
            names: quoted(&names),
            allowed: IDENTITY
                .iter()
                .chain(SETTINGS.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    NetworkEndpoint::build(kind, Form::Url, parts)
}

/// The endpoint as a URL, with `password` in the userinfo when given.
pub(super) fn render(endpoint: &NetworkEndpoint, password: Option<&str>) -> String {
    let scheme = schemes(endpoint.kind)[0];
    let mut url = format!("{scheme}://{}", encode(&endpoint.user));
    if let Some(password) = password {
        url.push(':');
        // The placeholder stays readable; `*` is allowed in userinfo.
        url.push_str(&if password == REDACTED {
            password.to_owned()
        } else {
            encode(password)
        });
    }
    url.push('@');
    if endpoint.host.contains(':') {
        url.push_str(&format!("[{}]", endpoint.host));
    } else {
        url.push_str(&endpoint.host);
    }
    url.push_str(&format!(":{}/", endpoint.port));
    if let Some(database) = &endpoint.database {
        url.push_str(&encode(database));
    }
    let settings = endpoint.settings();
    if !settings.is_empty() {
        let query: Vec<String> = settings
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect();
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

fn encode(raw: &str) -> String {
    utf8_percent_encode(raw, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use crate::{
        SourceKind,
        source_config::{REDACTED, SourceConfig, SourceConfigError},
    };
    use serde_json::json;

    fn parse(url: &str) -> Result<SourceConfig, SourceConfigError> {
        SourceConfig::parse(SourceKind::Postgresql, &json!({ "url": url }))
    }

    #[test]
    fn a_password_anywhere_in_the_url_is_sealed_and_shown_redacted() {
        for url in [
            "postgres://reader:hunter2-qs@127.0.0.1:1/app",
            "postgres://reader@127.0.0.1:1/app?password=hunter2-qs",
            "postgresql://127.0.0.1:1/app?user=reader&password=hunter2-qs",
        ] {
            let config = parse(url).unwrap();
            let shown = config.redacted().to_string();
            assert!(!shown.contains("hunter2"), "{url} shows {shown}");
            assert_eq!(
                config.redacted()["url"],
                format!("postgres://reader:{REDACTED}@127.0.0.1:1/app")
            );
            let sealed = config.sealed_form();
            assert_eq!(
                SourceConfig::parse(SourceKind::Postgresql, &sealed),
                Ok(config)
            );
        }
    }

    #[test]
    fn dangerous_or_unknown_parameters_are_refused_by_name_never_by_value() {
        for param in [
            "host=/tmp",
            "hostaddr=10.0.0.1",
            "port=5433",
            "passfile=/root/.pgpass",
            "sslkey=/k",
            "sslcert=/c",
            "sslrootcert=/r",
            "options=-c%20x",
            "sslpassword=LogLeak-123",
            "application_name=x",
        ] {
            let error = parse(&format!("postgres://u@db/app?{param}")).unwrap_err();
            let name = param.split('=').next().unwrap();
            let message = error.to_string();
            assert!(
                matches!(error, SourceConfigError::ParametersNotAllowed { .. }),
                "{param}"
            );
            assert!(message.contains(&format!("`{name}`")), "{message}");
            assert!(!message.contains("LogLeak"), "{message}");
        }
    }

    #[test]
    fn unix_sockets_host_lists_and_duplicates_are_refused() {
        for url in [
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/app",
            "postgres:///app?user=u",
            "postgres://u@a,b/app",
            "postgres://u@db/app?sslmode=require&sslmode=disable",
            "postgres://u:p@db/app?password=q",
            "postgres://u@db/app/extra",
            "mysql://u@db/app",
            "postgres://u@db/app#frag",
        ] {
            assert!(parse(url).is_err(), "{url} should be refused");
        }
    }

    #[test]
    fn settings_and_special_characters_round_trip() {
        let config = parse("postgres://r%40der:p%3Ass%2Fw@[::1]:6543/my%20db?sslmode=verify-full&statement_timeout=5000").unwrap();
        let SourceConfig::Network(endpoint) = &config else {
            panic!()
        };
        assert_eq!(endpoint.user, "r@der");
        assert_eq!(endpoint.password.as_deref(), Some("p:ss/w"));
        assert_eq!(endpoint.database.as_deref(), Some("my db"));
        assert_eq!(endpoint.host, "::1");
        assert_eq!(
            config.redacted()["url"],
            "postgres://r%40der:********@[::1]:6543/my%20db?sslmode=verify-full&statement_timeout=5000"
        );
        assert_eq!(
            SourceConfig::parse(SourceKind::Postgresql, &config.sealed_form()),
            Ok(config)
        );
    }
}
