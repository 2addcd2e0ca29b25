//! Snowflake's connector protocol over reqwest: a session login
//! (`/session/v1/login-request`, with a password or a key-pair JWT), query
//! requests (`/queries/v1/query-request`, positional bindings), answers still
//! running polled at the `getResultUrl` they name, and large results fetched
//! from the `chunks` they list. Every host (the endpoint and each chunk's)
//! passes the access policy and is reached only at its checked addresses,
//! without a proxy or redirects; the session token goes to the endpoint only,
//! never to a chunk's host.

use super::keypair::KeyPair;
use super::results::{Allowance, Column, ResultSet, arrow_rows, json_rows};
use crate::{AccessPolicy, SourceError, error::bounded, http};
use base64::{Engine, engine::general_purpose::STANDARD};
use schemata_core::{SnowflakeAccount, SnowflakeCredential};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

/// Largest answer read in one response (inline rowsets are small; chunks
/// are at most a few tens of MB uncompressed).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Result chunks one answer may name: Snowflake's are 10–100 MB apiece.
const MAX_CHUNKS: usize = 4096;

/// Round trips one statement may take in all, its polls and chunks
/// included, before the client gives up on it.
const ROUND_TRIPS_PER_STATEMENT: u32 = 4;

/// Codes of an answer that is not ready yet: poll `getResultUrl`.
const STILL_RUNNING: [&str; 2] = ["333333", "333334"];

const CLIENT_APP_ID: &str = "Schemata";

#[derive(Debug)]
pub(crate) struct Client {
    config: SnowflakeAccount,
    url: url::Url,
    policy: AccessPolicy,
    /// Deadline of each round trip.
    timeout: Duration,
    /// Server-side bound on each statement.
    statement_timeout: Duration,
    http: OnceCell<reqwest::Client>,
    /// Clients for chunk hosts, each pinned to its own checked addresses.
    chunk_hosts: Mutex<HashMap<String, reqwest::Client>>,
    key: OnceCell<KeyPair>,
}

/// A signed-in session; [`Session::close`] ends it on the server.
pub(crate) struct Session<'a> {
    client: &'a Client,
    token: String,
    sequence: AtomicU64,
}

impl Client {
    pub fn new(
        config: &SnowflakeAccount,
        policy: AccessPolicy,
        timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<Self, SourceError> {
        let url = url::Url::parse(&config.endpoint_url())
            .map_err(|_| SourceError::Configuration("`endpoint` is not a URL".into()))?;
        Ok(Self {
            config: config.clone(),
            url,
            policy,
            timeout,
            statement_timeout,
            http: OnceCell::new(),
            chunk_hosts: Mutex::new(HashMap::new()),
            key: OnceCell::new(),
        })
    }

    /// A client pinned to the endpoint's checked addresses, made on first use.
    async fn http(&self) -> Result<&reqwest::Client, SourceError> {
        self.http.get_or_try_init(|| self.pinned(&self.url)).await
    }

    async fn pinned(&self, url: &url::Url) -> Result<reqwest::Client, SourceError> {
        http::timed_pinned_client(&self.policy, url, self.timeout).await
    }

    /// `path` on the endpoint, and nowhere else: a path the server names
    /// (`getResultUrl`) that would lead to another host (`//host/…`,
    /// `/\\host/…`, a scheme) is refused, since the request carries the
    /// session token.
    fn endpoint(&self, path: &str) -> Result<url::Url, SourceError> {
        let elsewhere = || {
            tracing::info!("Snowflake named a result URL off its endpoint");
            SourceError::Query("Snowflake named a result URL on another host".into())
        };
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(elsewhere());
        }
        let url = self.url.join(path).map_err(|_| elsewhere())?;
        if url.origin() != self.url.origin() {
            return Err(elsewhere());
        }
        Ok(url)
    }

    /// Signs in: the password or a fresh key-pair token, the role and
    /// warehouse the connection names, and a server-side statement timeout.
    pub async fn login(&self) -> Result<Session<'_>, SourceError> {
        let mut data = json!({
            "CLIENT_APP_ID": CLIENT_APP_ID,
            "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
            "ACCOUNT_NAME": self.config.account_name(),
            "LOGIN_NAME": self.config.user,
            "SESSION_PARAMETERS": {
                "QUERY_TAG": "schemata",
                "STATEMENT_TIMEOUT_IN_SECONDS": self.statement_timeout.as_secs().max(1),
                "CLIENT_SESSION_KEEP_ALIVE": false,
            },
            "CLIENT_ENVIRONMENT": {"APPLICATION": CLIENT_APP_ID},
        });
        match &self.config.credential {
            SnowflakeCredential::Password(password) => {
                data["PASSWORD"] = json!(password);
            }
            SnowflakeCredential::KeyPair {
                private_key,
                passphrase,
            } => {
                let key = self
                    .key
                    .get_or_try_init(|| async {
                        KeyPair::from_pem(private_key, passphrase.as_deref())
                    })
                    .await?;
                data["AUTHENTICATOR"] = json!("SNOWFLAKE_JWT");
                data["TOKEN"] = json!(key.token(
                    &self.config.account_name(),
                    &self.config.user,
                    chrono::Utc::now().timestamp()
                )?);
            }
        }
        let mut url = self.endpoint("/session/v1/login-request")?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("request_id", &uuid::Uuid::new_v4().to_string());
            if let Some(role) = &self.config.role {
                query.append_pair("roleName", role);
            }
            if let Some(warehouse) = &self.config.warehouse {
                query.append_pair("warehouse", warehouse);
            }
        }
        let http = self.http().await?;
        let request = http
            .post(url)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(json!({"data": data}).to_string());
        let answer = self.send(request).await?;
        if answer["success"] != json!(true) {
            // Snowflake's words ("Incorrect username or password was
            // specified."), which never hold the secret; for a key pair, the
            // public key's fingerprint to compare with `DESC USER`.
            let key = match self.key.get() {
                Some(key) => format!(
                    " (the key's fingerprint is {}; compare RSA_PUBLIC_KEY_FP of DESC USER)",
                    key.fingerprint()
                ),
                None => String::new(),
            };
            return Err(SourceError::Rejected(bounded(&format!(
                "Snowflake refused the login: {}{key}",
                message_of(&answer)
            ))));
        }
        let token = answer["data"]["token"]
            .as_str()
            .ok_or_else(|| {
                tracing::info!("the endpoint answered the login without a token");
                SourceError::Unreachable
            })?
            .to_owned();
        Ok(Session {
            client: self,
            token,
            sequence: AtomicU64::new(0),
        })
    }

    /// Sends a request to the endpoint and reads Snowflake's JSON answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, SourceError> {
        let answer = request
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = answer.status();
        let bytes = http::read_bounded(answer, MAX_ANSWER_BYTES, "Snowflake").await?;
        // Anything but Snowflake's JSON is some other server: "unreachable",
        // as a closed port is, and nothing of what it said goes back.
        let not_snowflake = || {
            tracing::info!(
                status = status.as_u16(),
                "the endpoint answered, but not as Snowflake does"
            );
            SourceError::Unreachable
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| not_snowflake())?;
        if value.get("success").is_none() {
            return Err(not_snowflake());
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SourceError::Busy(bounded(&format!(
                "Snowflake is busy ({}): {}",
                status.as_u16(),
                message_of(&value)
            ))));
        }
        Ok(value)
    }

    fn transport(&self, error: reqwest::Error) -> SourceError {
        http::send_error(error, self.timeout, "snowflake")
    }

    /// Fetches one result chunk from the host its URL names, through the
    /// access policy, with the headers the answer gave for it (never the
    /// session token).
    async fn chunk(&self, url: &str, headers: &[(String, String)]) -> Result<Vec<u8>, SourceError> {
        let url = url::Url::parse(url).map_err(|_| {
            SourceError::Query("Snowflake named a chunk URL that is not a URL".into())
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SourceError::Query(
                "Snowflake named a chunk URL that is not http(s)".into(),
            ));
        }
        let host = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(443)
        );
        let http = {
            let mut hosts = self.chunk_hosts.lock().await;
            match hosts.get(&host) {
                Some(client) => client.clone(),
                None => {
                    let client = self.pinned(&url).await?;
                    hosts.insert(host, client.clone());
                    client
                }
            }
        };
        let mut request = http.get(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        if !answer.status().is_success() {
            return Err(SourceError::Query(format!(
                "a result chunk could not be fetched ({})",
                answer.status().as_u16()
            )));
        }
        let bytes = http::read_bounded(answer, MAX_ANSWER_BYTES, "Snowflake").await?;
        gunzip(bytes)
    }
}

impl Session<'_> {
    /// Runs one statement and reads every row of its answer, chunks
    /// included: at most `max_rows` rows and [`Allowance::default`]'s bytes,
    /// within [`ROUND_TRIPS_PER_STATEMENT`] round trips' time in all.
    pub async fn query(&self, sql: &str, max_rows: usize) -> Result<ResultSet, SourceError> {
        let total = self.client.timeout * ROUND_TRIPS_PER_STATEMENT;
        crate::within(total, self.query_within(sql, Allowance::new(max_rows))).await
    }

    async fn query_within(
        &self,
        sql: &str,
        allowance: Allowance,
    ) -> Result<ResultSet, SourceError> {
        let started = Instant::now();
        let deadline = self.client.timeout;
        let body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
            "querySubmissionTime": chrono::Utc::now().timestamp_millis(),
        });
        let mut url = self.client.endpoint("/queries/v1/query-request")?;
        url.query_pairs_mut()
            .append_pair("requestId", &uuid::Uuid::new_v4().to_string());
        let http = self.client.http().await?;
        let mut answer = self
            .client
            .send(self.authorized(http.post(url)).body(body.to_string()))
            .await?;
        // A statement still running after the first answer: poll where it says.
        while STILL_RUNNING.contains(&answer["code"].as_str().unwrap_or_default()) {
            if started.elapsed() >= deadline {
                return Err(SourceError::Timeout(deadline));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            let path = answer["data"]["getResultUrl"].as_str().unwrap_or_default();
            let url = self.client.endpoint(path)?;
            answer = self.client.send(self.authorized(http.get(url))).await?;
        }
        if answer["success"] != json!(true) {
            let code = answer["code"].as_str().unwrap_or_default();
            let message = bounded(&message_of(&answer));
            return Err(match code {
                // The session expired or was ended.
                "390104" | "390111" | "390112" | "390114" => SourceError::Rejected(message),
                _ => SourceError::Query(message),
            });
        }
        self.read_result(&answer["data"], allowance).await
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header(
                "authorization",
                format!("Snowflake Token=\"{}\"", self.token),
            )
            .header("accept", "application/snowflake")
            .header("content-type", "application/json")
    }

    async fn read_result(
        &self,
        data: &Value,
        mut allowance: Allowance,
    ) -> Result<ResultSet, SourceError> {
        let columns: Vec<Column> = data["rowtype"]
            .as_array()
            .map(|entries| entries.iter().map(Column::from_rowtype).collect())
            .unwrap_or_default();
        let arrow = data["queryResultFormat"].as_str() == Some("arrow");
        let mut weight = 0;
        let mut rows = if let Some(base64) = data["rowsetBase64"].as_str() {
            weight += base64.len();
            allowance.charge_bytes(base64.len())?;
            let bytes = STANDARD.decode(base64).map_err(|_| {
                SourceError::Query("Snowflake sent a rowset that is not base64".into())
            })?;
            let (rows, left) = decode_arrow(bytes, &columns, allowance).await?;
            allowance = left;
            rows
        } else if data["rowset"].is_array() {
            let rowset = data["rowset"].to_string().len();
            weight += rowset;
            allowance.charge_bytes(rowset)?;
            json_rows(&data["rowset"], &columns, &mut allowance)?
        } else {
            vec![]
        };
        let headers = chunk_headers(data);
        let chunks = data["chunks"].as_array().map_or(&[][..], Vec::as_slice);
        if chunks.len() > MAX_CHUNKS {
            return Err(SourceError::TooLarge(format!(
                "Snowflake named {} result chunks, more than {MAX_CHUNKS}",
                chunks.len()
            )));
        }
        for chunk in chunks {
            let url = chunk["url"].as_str().unwrap_or_default();
            let bytes = self.client.chunk(url, &headers).await?;
            weight += bytes.len();
            allowance.charge_bytes(bytes.len())?;
            if arrow {
                let (more, left) = decode_arrow(bytes, &columns, allowance).await?;
                allowance = left;
                rows.extend(more);
            } else {
                // A JSON chunk is rows without the enclosing brackets.
                let mut wrapped = Vec::with_capacity(bytes.len() + 2);
                wrapped.push(b'[');
                wrapped.extend_from_slice(&bytes);
                wrapped.push(b']');
                let rowset: Value = serde_json::from_slice(&wrapped).map_err(|_| {
                    SourceError::Query("Snowflake sent a result chunk that is not JSON".into())
                })?;
                rows.extend(json_rows(&rowset, &columns, &mut allowance)?);
            }
        }
        Ok(ResultSet {
            columns,
            rows,
            bytes: weight,
        })
    }

    /// Ends the session on the server; a failure only leaves it to expire.
    pub async fn close(self) {
        let Ok(mut url) = self.client.endpoint("/session") else {
            return;
        };
        url.query_pairs_mut().append_pair("delete", "true");
        if let Ok(http) = self.client.http().await {
            let request = self.authorized(http.post(url)).body("{}");
            let _ = tokio::time::timeout(Duration::from_secs(2), request.send()).await;
        }
    }
}

/// Decodes an Arrow stream off the async threads (a large chunk is CPU for
/// a while), within what is left of the allowance.
async fn decode_arrow(
    bytes: Vec<u8>,
    columns: &[Column],
    mut allowance: Allowance,
) -> Result<(Vec<Vec<Value>>, Allowance), SourceError> {
    let columns = columns.to_vec();
    tokio::task::spawn_blocking(move || {
        arrow_rows(&bytes, &columns, &mut allowance).map(|rows| (rows, allowance))
    })
    .await
    .map_err(|_| SourceError::Query("decoding a Snowflake result failed".into()))?
}

/// The headers a chunk is fetched with: those the answer lists, or the
/// customer key (`qrmk`) of chunks encrypted on the stage with SSE-C.
fn chunk_headers(data: &Value) -> Vec<(String, String)> {
    if let Some(headers) = data["chunkHeaders"].as_object() {
        return headers
            .iter()
            .filter_map(|(n, v)| Some((n.clone(), v.as_str()?.to_owned())))
            .collect();
    }
    match data["qrmk"].as_str() {
        Some(key) => vec![
            (
                "x-amz-server-side-encryption-customer-algorithm".into(),
                "AES256".into(),
            ),
            (
                "x-amz-server-side-encryption-customer-key".into(),
                key.to_owned(),
            ),
        ],
        None => vec![],
    }
}

fn message_of(answer: &Value) -> String {
    answer["message"]
        .as_str()
        .unwrap_or("no message")
        .to_owned()
}

/// Chunks may come gzip-compressed without saying so in a header.
fn gunzip(bytes: Vec<u8>) -> Result<Vec<u8>, SourceError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_ANSWER_BYTES as u64 * 4 + 1)
        .read_to_end(&mut plain)
        .map_err(|_| SourceError::Query("a result chunk is not valid gzip".into()))?;
    if plain.len() > MAX_ANSWER_BYTES * 4 {
        return Err(SourceError::TooLarge(
            "a result chunk unpacks to more than 256 MB".into(),
        ));
    }
    Ok(plain)
}
