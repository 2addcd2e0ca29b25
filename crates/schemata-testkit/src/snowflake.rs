//! A Snowflake emulator for tests: fakesnow in server mode (PyPI), installed
//! into `target/fakesnow` when missing, one per test process. Tests isolate
//! themselves by database name. `SnowflakeProxy` stands in front of it to
//! count the statements a refresh sends, and can hand results back as
//! chunks (fakesnow answers inline only) to check how they are fetched.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// What `.ci/run` installs, too.
pub const FAKESNOW: &str = "fakesnow[server]==0.12.1";
pub const CONNECTOR: &str = "snowflake-connector-python<4";

pub struct FakeSnow {
    pub endpoint: String,
    _process: Mutex<Child>,
}

static SERVER: OnceCell<FakeSnow> = OnceCell::const_new();

/// The virtualenv with fakesnow and the Python connector (for benchmarks).
pub fn venv() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fakesnow");
    if !root.join("bin/fakesnow").exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&root)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(root.join("bin/pip"))
                .args(["install", "--quiet", FAKESNOW, CONNECTOR])
                .status()
                .is_ok_and(|s| s.success());
        assert!(made, "could not install fakesnow into {}", root.display());
    }
    root
}

/// A unique database name for one test.
pub fn database_name() -> String {
    format!("SF_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]).to_ascii_uppercase()
}

impl FakeSnow {
    /// This process's emulator, started on first use.
    pub async fn shared() -> &'static FakeSnow {
        SERVER.get_or_init(Self::start).await
    }

    async fn start() -> Self {
        crate::install_tls();
        let port = crate::free_port();
        // A watchdog shell ends fakesnow once this test process is gone: a
        // server held in a static is never dropped.
        let process = Command::new("sh")
            .args([
                "-c",
                r#""$1" -s -p "$2" & server=$!
                   trap 'kill $server' EXIT
                   while kill -0 "$3" 2>/dev/null; do sleep 1; done"#,
                "fakesnow-watchdog",
            ])
            .arg(venv().join("bin/fakesnow"))
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fakesnow starts");
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: Mutex::new(process),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.execute(&["SELECT 1"]).await.is_err() {
            assert!(Instant::now() < deadline, "fakesnow did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    /// Runs each statement in one session, in order, the way a loading tool
    /// would; the first that fails ends it with the emulator's words.
    pub async fn execute(&self, statements: &[&str]) -> Result<Vec<Value>, String> {
        execute(&self.endpoint, statements).await
    }

    /// Makes database `name` and runs `sql` (statements separated by `;` at
    /// the end of a line) in it.
    pub async fn database(&self, name: &str, sql: &str) {
        let create = format!("CREATE DATABASE {name}");
        let using = format!("USE DATABASE {name}");
        let mut statements = vec![create.as_str(), using.as_str()];
        statements.extend(
            sql.split(";\n")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_end_matches(';')),
        );
        self.execute(&statements).await.expect("the fixture loads");
    }
}

async fn execute(endpoint: &str, statements: &[&str]) -> Result<Vec<Value>, String> {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{endpoint}/session/v1/login-request"))
        .json(
            &json!({"data": {"ACCOUNT_NAME": "ACME", "LOGIN_NAME": "loader",
            "PASSWORD": "loader", "SESSION_PARAMETERS": {}}}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = login["data"]["token"]
        .as_str()
        .ok_or_else(|| login.to_string())?
        .to_owned();
    let mut answers = Vec::new();
    for statement in statements {
        let answer: Value = http
            .post(format!("{endpoint}/queries/v1/query-request"))
            .header("authorization", format!("Snowflake Token=\"{token}\""))
            .json(&json!({"sqlText": statement, "sequenceId": 1}))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if answer["success"] != json!(true) {
            return Err(format!("{statement}: {}", answer["message"]));
        }
        answers.push(answer);
    }
    Ok(answers)
}

/// What went through the proxy.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub logins: usize,
    /// Each login request's body.
    pub login_bodies: Vec<Value>,
    /// Each query request's SQL text, in order.
    pub statements: Vec<String>,
    /// Each chunk request: its path, whether it carried the chunk header the
    /// answer named, and whether it carried an Authorization header.
    pub chunk_requests: Vec<(String, bool, bool)>,
}

/// A recording proxy in front of the emulator; with `chunked`, it hands
/// every Arrow result back as a gzip chunk on its own `/chunks/N` path
/// instead of inline, the way Snowflake answers large results.
pub struct SnowflakeProxy {
    pub endpoint: String,
    traffic: Arc<Mutex<Traffic>>,
}

struct ProxyState {
    upstream: String,
    chunked: bool,
    own: String,
    traffic: Arc<Mutex<Traffic>>,
    chunks: Mutex<Vec<Vec<u8>>>,
}

/// The header each chunk must be fetched with (as `chunkHeaders` names it).
const CHUNK_HEADER: (&str, &str) = ("x-amz-server-side-encryption-customer-key", "chunk-key");

impl SnowflakeProxy {
    pub async fn start(upstream: &str, chunked: bool) -> Self {
        crate::install_tls();
        let traffic = Arc::new(Mutex::new(Traffic::default()));
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("the proxy binds");
        let port = listener.local_addr().expect("an address").port();
        let state = web::Data::new(ProxyState {
            upstream: upstream.to_owned(),
            chunked,
            own: format!("http://127.0.0.1:{port}"),
            traffic: traffic.clone(),
            chunks: Mutex::new(Vec::new()),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(64 << 20))
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the proxy listens");
        tokio::spawn(server.run());
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            traffic,
        }
    }

    pub fn traffic(&self) -> Traffic {
        self.traffic.lock().unwrap().clone()
    }

    pub fn forget(&self) {
        *self.traffic.lock().unwrap() = Traffic::default();
    }
}

async fn forward(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ProxyState>,
) -> HttpResponse {
    let path = request.uri().path().to_owned();
    if let Some(n) = path.strip_prefix("/chunks/") {
        let header = request
            .headers()
            .get(CHUNK_HEADER.0)
            .is_some_and(|v| v == CHUNK_HEADER.1);
        let authorized = request.headers().contains_key("authorization");
        state
            .traffic
            .lock()
            .unwrap()
            .chunk_requests
            .push((path.clone(), header, authorized));
        let chunk = n
            .parse::<usize>()
            .ok()
            .and_then(|n| state.chunks.lock().unwrap().get(n).cloned());
        return match (chunk, header) {
            (Some(bytes), true) => HttpResponse::Ok().body(bytes),
            _ => HttpResponse::Forbidden().finish(),
        };
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut traffic = state.traffic.lock().unwrap();
        if path.ends_with("/login-request") {
            traffic.logins += 1;
            traffic.login_bodies.push(parsed.clone());
        }
        if let Some(sql) = parsed["sqlText"].as_str() {
            traffic.statements.push(sql.to_owned());
        }
    }
    let url = format!(
        "{}{}",
        state.upstream,
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let method =
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).expect("a method");
    let mut upstream = reqwest::Client::new()
        .request(method, url)
        .body(body.to_vec());
    for (name, value) in request.headers() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = upstream.send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let status = answer.status().as_u16();
    let mut value: Value = match answer.json().await {
        Ok(value) => value,
        Err(_) => return HttpResponse::BadGateway().finish(),
    };
    if state.chunked
        && let Some(base64) = value["data"]["rowsetBase64"].as_str()
        && !base64.is_empty()
    {
        let bytes = STANDARD.decode(base64).expect("fakesnow sends base64");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, &bytes).expect("gzip in memory");
        let compressed = gzip.finish().expect("gzip in memory");
        let n = {
            let mut chunks = state.chunks.lock().unwrap();
            chunks.push(compressed);
            chunks.len() - 1
        };
        let data = &mut value["data"];
        data["rowsetBase64"] = json!("");
        data["chunks"] =
            json!([{"url": format!("{}/chunks/{n}", state.own), "rowCount": data["total"]}]);
        data["chunkHeaders"] = json!({CHUNK_HEADER.0: CHUNK_HEADER.1});
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
        .content_type("application/json")
        .body(value.to_string())
}
