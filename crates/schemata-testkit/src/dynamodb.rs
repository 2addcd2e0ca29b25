//! A real DynamoDB-compatible server for tests: moto in server mode (PyPI),
//! installed into `target/moto` when missing, one per test process. Tests
//! isolate themselves by table prefix. `DenyingProxy` stands in front of it
//! to answer one table's calls with an IAM-style AccessDenied, which moto's
//! server mode does not enforce per table.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

pub struct DynamoServer {
    pub endpoint: String,
    _process: Mutex<Child>,
}

static SERVER: OnceCell<DynamoServer> = OnceCell::const_new();

fn moto_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/moto");
    let binary = root.join("bin/moto_server");
    if !binary.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&root)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(root.join("bin/pip"))
                .args(["install", "--quiet", "moto[server,dynamodb]==5.2.*"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(made, "could not install moto into {}", root.display());
    }
    binary
}

impl DynamoServer {
    /// This process's emulator, started on first use.
    pub async fn shared() -> &'static DynamoServer {
        SERVER.get_or_init(Self::start).await
    }

    async fn start() -> Self {
        crate::install_tls();
        let port = crate::free_port();
        // A watchdog shell ends moto once this test process is gone: a
        // server held in a static is never dropped.
        let process = Command::new("sh")
            .args([
                "-c",
                r#""$1" -H 127.0.0.1 -p "$2" & moto=$!
                   trap 'kill $moto' EXIT
                   while kill -0 "$3" 2>/dev/null; do sleep 1; done"#,
                "moto-watchdog",
            ])
            .arg(moto_binary())
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: Mutex::new(process),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.call("ListTables", json!({})).await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    /// Calls the emulator directly (to set tables up): unsigned, which moto
    /// accepts, in region us-east-1.
    pub async fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        call(&self.endpoint, operation, body).await
    }

    /// Creates a table and waits for it; `spec` is CreateTable's body.
    pub async fn create_table(&self, spec: Value) {
        let name = spec["TableName"].clone();
        self.call("CreateTable", spec).await.expect("CreateTable");
        for _ in 0..100 {
            let described = self
                .call("DescribeTable", json!({"TableName": name}))
                .await
                .expect("DescribeTable");
            if described["Table"]["TableStatus"] == "ACTIVE" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("table {name} never became active");
    }

    /// Writes items 25 at a time.
    pub async fn put_items(&self, table: &str, items: Vec<Value>) {
        for chunk in items.chunks(25) {
            let requests: Vec<Value> = chunk
                .iter()
                .map(|item| json!({"PutRequest": {"Item": item}}))
                .collect();
            self.call("BatchWriteItem", json!({"RequestItems": {table: requests}}))
                .await
                .expect("BatchWriteItem");
        }
    }
}

async fn call(endpoint: &str, operation: &str, body: Value) -> Result<Value, String> {
    let answer = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let value: Value = answer.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(value.to_string())
    }
}

/// A proxy in front of the emulator that denies every call naming one table,
/// as IAM would for a key without access to it, and records every call that
/// went through: operation, table, and the items a `Scan` returned.
pub struct DenyingProxy {
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub table: String,
    pub items: usize,
}

impl DenyingProxy {
    pub async fn start(upstream: &str, denied_table: &str) -> Self {
        crate::install_tls();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new((upstream.to_owned(), denied_table.to_owned(), calls.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the proxy binds");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            calls,
        }
    }

    /// Every call that reached the emulator, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

type ProxyState = (String, String, Arc<Mutex<Vec<Call>>>);

async fn forward(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ProxyState>,
) -> HttpResponse {
    let (upstream, denied, calls) = state.get_ref();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if parsed["TableName"] == json!(denied) {
        return HttpResponse::BadRequest()
            .content_type("application/x-amz-json-1.0")
            .json(json!({
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "message": format!("User: arn:aws:iam::123456789012:user/schemata-reader is not authorized to perform: dynamodb:{operation} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{denied}")
            }));
    }
    match call(upstream, &operation, parsed.clone()).await {
        Ok(answer) => {
            calls.lock().unwrap().push(Call {
                table: parsed["TableName"].as_str().unwrap_or_default().to_owned(),
                items: answer["Items"].as_array().map_or(0, Vec::len),
                operation,
            });
            HttpResponse::Ok().json(answer)
        }
        Err(error) => HttpResponse::BadRequest()
            .content_type("application/x-amz-json-1.0")
            .body(error),
    }
}

/// A proxy in front of the emulator for roles: AWS's trust policy in
/// miniature. `AssumeRole` succeeds only with the external id the role
/// trusts (moto's STS checks none), and every request is recorded: its
/// action, the parameters `AssumeRole` carried, and the access key id that
/// signed it.
pub struct StsProxy {
    pub endpoint: String,
    state: Arc<StsState>,
}

#[derive(Default)]
struct StsState {
    upstream: String,
    trusted_external_id: Mutex<Option<String>>,
    requests: Mutex<Vec<SignedRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedRequest {
    /// `AssumeRole`, or the DynamoDB operation.
    pub action: String,
    /// The `Credential=` key id of the SigV4 `Authorization` header.
    pub signed_by: String,
    /// `AssumeRole`'s form parameters.
    pub parameters: std::collections::BTreeMap<String, String>,
    pub granted: bool,
}

impl StsProxy {
    pub async fn start(upstream: &str) -> Self {
        crate::install_tls();
        let state = Arc::new(StsState {
            upstream: upstream.to_owned(),
            ..Default::default()
        });
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(sts_forward))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the proxy binds");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// The role now trusts this external id (its owner pasted it in).
    pub fn trust(&self, external_id: &str) {
        *self.state.trusted_external_id.lock().unwrap() = Some(external_id.to_owned());
    }

    pub fn requests(&self) -> Vec<SignedRequest> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn sts_forward(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<StsState>,
) -> HttpResponse {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed_by = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or_default().to_owned());
    let parameters: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let action = target.unwrap_or_else(|| parameters.get("Action").cloned().unwrap_or_default());
    let trusted = state.trusted_external_id.lock().unwrap().clone();
    let granted = action != "AssumeRole" || trusted.as_ref() == parameters.get("ExternalId");
    state.requests.lock().unwrap().push(SignedRequest {
        action: action.clone(),
        signed_by,
        parameters: if action == "AssumeRole" {
            parameters
        } else {
            Default::default()
        },
        granted,
    });
    if !granted {
        return HttpResponse::Forbidden().content_type("text/xml").body(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::111111111111:user/schemata is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/schemata-reader</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        );
    }
    let mut upstream = reqwest::Client::new()
        .post(&state.upstream)
        .body(body.to_vec());
    for (name, value) in request.headers() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = upstream.send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let status = actix_web::http::StatusCode::from_u16(answer.status().as_u16()).expect("a status");
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let bytes = answer.bytes().await.unwrap_or_default();
    HttpResponse::build(status)
        .content_type(content_type)
        .body(bytes.to_vec())
}
