//! A webhook receiver's URL: http(s), with a host, of bounded length; and the
//! form it is shown in once stored (all but scheme, host, port and the first
//! path segment may be a token, so the rest is masked).

use url::Url;

const MAX_LEN: usize = 2048;
const MASK: &str = "********";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: Url,
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} characters"));
        }
        let url = Url::parse(raw).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the scheme must be http or https".into());
        }
        if url.host().is_none() {
            return Err("it names no host".into());
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// The URL as it is shown once stored: scheme, host, port and the first
    /// path segment; everything else may be a token (Slack's
    /// `/services/T0/B0/XXXX`, a user name, a query, a `#fragment`, a
    /// `;jsessionid=`) and is masked.
    pub fn shown(&self) -> String {
        let url = &self.url;
        let mut shown = format!("{}://", url.scheme());
        if !url.username().is_empty() || url.password().is_some() {
            shown.push_str(MASK);
            shown.push('@');
        }
        shown.push_str(url.host_str().unwrap_or_default());
        if let Some(port) = url.port() {
            shown.push_str(&format!(":{port}"));
        }
        let mut segments = url.path().trim_start_matches('/').splitn(2, '/');
        let first = segments.next().unwrap_or_default();
        let (first, parameters) = match first.split_once(';') {
            Some((first, _)) => (first, true),
            None => (first, false),
        };
        shown.push('/');
        shown.push_str(first);
        if parameters {
            shown.push(';');
            shown.push_str(MASK);
        }
        if segments.next().is_some_and(|rest| !rest.is_empty()) {
            shown.push('/');
            shown.push_str(MASK);
        }
        if url.query().is_some() {
            shown.push('?');
            shown.push_str(MASK);
        }
        if url.fragment().is_some() {
            shown.push('#');
            shown.push_str(MASK);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_port_and_the_first_path_segment_are_shown() {
        for (url, shown) in [
            (
                "https://hook:hunter2@example.com:8443/in?token=SECRET&x=1",
                "https://********@example.com:8443/in?********",
            ),
            (
                "https://hooks.slack.com/services/T0/B0/XXXXSECRET",
                "https://hooks.slack.com/services/********",
            ),
            (
                "https://token@example.com/",
                "https://********@example.com/",
            ),
            (
                "https://example.com/in#SECRET",
                "https://example.com/in#********",
            ),
            (
                "https://example.com/in;jsessionid=SECRET/more",
                "https://example.com/in;********/********",
            ),
            ("https://example.com", "https://example.com/"),
            ("http://[::1]:8080/a/", "http://[::1]:8080/a"),
            ("http://[::1]:8080/a/b", "http://[::1]:8080/a/********"),
        ] {
            assert_eq!(WebhookUrl::parse(url).unwrap().shown(), shown, "{url}");
            assert!(!shown.contains("SECRET") && !shown.contains("hunter2"));
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_webhooks() {
        let url = WebhookUrl::parse("https://example.com:8443/in").unwrap();
        assert_eq!(url.as_url().port_or_known_default(), Some(8443));
        assert!(WebhookUrl::parse("http://[::1]/").is_ok());
        assert!(WebhookUrl::parse("ftp://example.com/").is_err());
        assert!(WebhookUrl::parse("mailto:someone@example.com").is_err());
    }
}
