//! A webhook receiver's URL: http(s), with a host, of bounded length; and the
//! form it is shown in once stored (its password and query values may be
//! tokens, so they are masked).

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

    /// The URL with its password and every query value masked.
    pub fn shown(&self) -> String {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some(MASK));
        }
        if shown.query().is_some() {
            let masked: Vec<(String, String)> = self
                .url
                .query_pairs()
                .map(|(name, _)| (name.into_owned(), MASK.to_owned()))
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(masked);
        }
        shown.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_when_shown() {
        let url =
            WebhookUrl::parse("https://hook:hunter2@example.com:8443/in?token=SECRET&x=1").unwrap();
        assert_eq!(
            url.shown(),
            "https://hook:********@example.com:8443/in?token=********&x=********"
        );
        assert_eq!(url.as_url().port_or_known_default(), Some(8443));
        assert!(WebhookUrl::parse("http://[::1]/").is_ok());
        assert!(WebhookUrl::parse("ftp://example.com/").is_err());
        assert!(WebhookUrl::parse("mailto:someone@example.com").is_err());
    }
}
