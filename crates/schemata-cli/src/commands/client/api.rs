//! A thin client of the public API: where it is, which key, and errors as the
//! API words them (message and request id), never a Rust debug dump.

use serde_json::Value;
use std::{fmt, path::Path};

/// Where `schemata dev` leaves `SCHEMATA_URL` and `SCHEMATA_API_KEY`.
const DEV_ENV_FILE: &str = "target/schemata-dev/env";
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// What went wrong talking to the API, for a person.
#[derive(Debug)]
pub struct ApiFailure {
    pub message: String,
    pub request_id: Option<String>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            request_id: None,
        }
    }
}

pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// An answer: status, headers we use, and the JSON body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Value,
}

impl Api {
    /// `--url`/`SCHEMATA_URL` and `--api-key`/`SCHEMATA_API_KEY`, else what
    /// `schemata dev` wrote in `target/schemata-dev/env`, else localhost:8080.
    pub fn from(url: Option<String>, key: Option<String>) -> Result<Self, ApiFailure> {
        let dev = dev_env(Path::new(DEV_ENV_FILE));
        let base = url
            .or_else(|| {
                dev.iter()
                    .find(|(k, _)| k == "SCHEMATA_URL")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let key = key
            .or_else(|| {
                dev.iter()
                    .find(|(k, _)| k == "SCHEMATA_API_KEY")
                    .map(|(_, v)| v.clone())
            })
            .ok_or_else(|| {
                ApiFailure::plain(
                    "No API key: pass --api-key or set SCHEMATA_API_KEY (`schemata keys create` makes one).",
                )
            })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("schemata-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| ApiFailure::plain(format!("Could not set up HTTP: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            key,
            http,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.call(reqwest::Method::GET, path, None)
            .await
            .map(|a| a.body)
    }

    pub async fn delete(&self, path: &str) -> Result<Answer, ApiFailure> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Answer, ApiFailure> {
        self.call(reqwest::Method::POST, path, body).await
    }

    /// Sends one request; any status of 400 or more is a failure carrying
    /// the API's own message and request id.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiFailure> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            ApiFailure::plain(format!(
                "Could not reach the Schemata API at {}: {}",
                self.base,
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    root_cause(&e)
                }
            ))
        })?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status >= 400 {
            let message = body["error"]["message"]
                .as_str()
                .map_or_else(|| format!("The API answered {status}."), str::to_owned);
            return Err(ApiFailure {
                message,
                request_id: body["error"]["requestId"]
                    .as_str()
                    .map(str::to_owned)
                    .or(request_id),
            });
        }
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    /// Every item of a cursor-paginated list (`path` without a query),
    /// fetched a page of 200 at a time.
    pub async fn all(&self, path: &str) -> Result<Vec<Value>, ApiFailure> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => self.get(&format!("{path}?limit=200&cursor={c}")).await?,
                None => self.get(&format!("{path}?limit=200")).await?,
            };
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["pagination"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// A connection's id from its id or its name.
    pub async fn resolve(&self, connection: &str) -> Result<String, ApiFailure> {
        if uuid::Uuid::parse_str(connection).is_ok() {
            return Ok(connection.to_owned());
        }
        self.all("/api/connections")
            .await?
            .iter()
            .find(|c| c["name"] == connection)
            .map(|found| found["id"].as_str().unwrap_or_default().to_owned())
            .ok_or_else(|| {
                ApiFailure::plain(format!("No connection named or with id `{connection}`."))
            })
    }
}

/// The innermost cause of a transport error, which says what happened.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `export NAME=value` lines.
fn dev_env(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}
