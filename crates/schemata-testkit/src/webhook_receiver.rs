//! A real HTTP server that receives webhooks: records every request and
//! answers with the statuses it is told to, in order (then 200).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query, as requested.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    answers: Mutex<VecDeque<u16>>,
}

pub struct WebhookReceiver {
    pub port: u16,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl WebhookReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        let shared = Arc::new(Shared::default());
        let state = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", port))
        .expect("the receiver binds its port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            shared,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests get these statuses, in order.
    pub fn answer_with(&self, statuses: &[u16]) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `count` requests have come.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {count} webhook request(s), got {:?}",
            self.received()
        );
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    shared.received.lock().unwrap().push(Received {
        target: request.uri().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = shared.answers.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
