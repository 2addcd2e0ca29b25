use crate::{TestDatabase, TestWorker, init_test_logs, migrated_database};
use reqwest::{Client, Response};
use schemata_api::{ApiSettings, Application};
use schemata_core::Scope;
use schemata_sources::{AccessPolicy, SourceSettings};
use schemata_store::{SecretBox, StoreSettings, api_keys, organizations};
use schemata_worker::{RefreshContext, WorkerSettings};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The API served on a free port over a fresh, migrated database.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: Client,
    /// A key of organization `acme` with every scope.
    pub api_key: String,
    pub organization_id: Uuid,
    pub store: StoreSettings,
    handle: actix_web::dev::ServerHandle,
    /// Where this app's SQLite sources live (`SCHEMATA_SQLITE_ROOT`), removed with it.
    pub sqlite_root: std::path::PathBuf,
    /// What the API was built with, for replicas.
    settings: ApiSettings,
    /// Dropped with the app, after the server stopped.
    _database: TestDatabase,
}

/// A second API process on a [`TestApp`]'s database (another replica behind
/// the same load balancer), holding the same key.
pub struct ApiReplica {
    pub address: String,
    client: Client,
    api_key: String,
    handle: actix_web::dev::ServerHandle,
}

impl ApiReplica {
    pub async fn post_empty(&self, path: &str) -> Response {
        send_checked(
            self.client
                .post(format!("{}{path}", self.address))
                .bearer_auth(&self.api_key),
        )
        .await
        .expect("POST")
    }
}

impl Drop for ApiReplica {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `adjust` (e.g. a shorter health timeout).
    pub async fn spawn_with(adjust: impl FnOnce(&mut ApiSettings)) -> Self {
        init_test_logs();
        crate::install_tls();
        let (database, pool) = migrated_database().await;
        let store = StoreSettings {
            acquire_timeout: schemata_store::settings::DEFAULT_ACQUIRE_TIMEOUT,
            database_url: database.url().to_owned(),
            max_connections: 20,
            encryption_key: SecretBox::generate_key_hex(),
        };
        let sqlite_root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/schemata-test-sqlite")
            .join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&sqlite_root).expect("create the SQLite root");
        let sources = SourceSettings {
            policy: schemata_sources::PolicySettings {
                sqlite_root: Some(sqlite_root.clone()),
                ..schemata_sources::PolicySettings::local_development()
            },
            ..Default::default()
        };
        let mut settings = ApiSettings {
            refresh_requests_per_minute: 60,
            // Tests revoke keys and count their uses: every request asks.
            api_key_cache_ttl: Duration::ZERO,
            // As in production: every test that polls a status while a worker
            // writes checks that the cache forgets in time.
            status_cache_ttl: Duration::from_secs(5),
            // Every refresh request checks its source (tests break sources
            // between requests); the reuse of a verdict has its own test.
            health_verdict_ttl: Duration::ZERO,
            store: store.clone(),
            sources,
            host: "127.0.0.1".into(),
            port: 0,
            http_workers: 2,
            health_timeout: Duration::from_secs(5),
            max_concurrent_health_checks: 8,
            health_checks_per_organization: 8,
        };
        adjust(&mut settings);
        let api_settings = settings.clone();
        let app_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect(&store.database_url)
            .await
            .expect("connect the API pool");
        let application = Application::build_with_pool(settings, app_pool)
            .await
            .expect("build the API");
        let address = format!("http://127.0.0.1:{}", application.port());
        let handle = application.handle();
        tokio::spawn(application.run_until_stopped());
        let organization = organizations::ensure(&pool, "acme")
            .await
            .expect("create organization");
        let key = api_keys::create(&pool, organization.id, "test", &Scope::ALL)
            .await
            .expect("create key");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build HTTP client");
        Self {
            address,
            pool,
            client,
            api_key: key.secret,
            organization_id: organization.id,
            store,
            handle,
            sqlite_root,
            settings: api_settings,
            _database: database,
        }
    }

    /// Starts another API on this app's database, as a second replica.
    pub async fn replica(&self) -> ApiReplica {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.store.database_url)
            .await
            .expect("connect the replica's pool");
        let application = Application::build_with_pool(self.settings.clone(), pool)
            .await
            .expect("build the replica");
        let address = format!("http://127.0.0.1:{}", application.port());
        let handle = application.handle();
        tokio::spawn(application.run_until_stopped());
        ApiReplica {
            address,
            client: self.client.clone(),
            api_key: self.api_key.clone(),
            handle,
        }
    }

    /// Settings for a worker on this app's database, with fast fallbacks for tests.
    pub fn worker_settings(&self) -> WorkerSettings {
        WorkerSettings {
            store: self.store.clone(),
            sources: SourceSettings {
                policy: schemata_sources::PolicySettings {
                    sqlite_root: Some(self.sqlite_root.clone()),
                    ..schemata_sources::PolicySettings::local_development()
                },
                ..Default::default()
            },
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(5),
            missed_heartbeats: 4,
            job_timeout: Duration::from_secs(120),
            ops_host: "127.0.0.1".into(),
            ops_port: 0,
            shutdown_timeout: Duration::from_secs(10),
            maintenance_interval: Duration::from_secs(60),
            scheduler_interval: Duration::from_millis(200),
            scheduler_batch: 100,
            history_retention_days: 90,
            orphan_check_interval: Duration::from_millis(500),
            retry_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
            organization_slots: 8,
            source_server_slots: 4,
            webhooks: schemata_worker::WebhookSettings {
                timeout: Duration::from_secs(2),
                retry_base: Duration::from_millis(300),
                retry_max: Duration::from_secs(2),
                retry_for: Duration::from_secs(3600),
                poll_interval: Duration::from_millis(100),
                concurrency: 8,
                per_organization: 4,
            },
        }
    }

    pub fn spawn_worker(&self) -> TestWorker {
        self.spawn_worker_with(self.worker_settings())
    }

    pub fn spawn_worker_with(&self, settings: WorkerSettings) -> TestWorker {
        TestWorker::spawn(settings, self.pool.clone())
    }

    /// A worker on a pool of its own (sized for a benchmark's concurrency).
    pub fn spawn_worker_with_pool(&self, settings: WorkerSettings, pool: PgPool) -> TestWorker {
        TestWorker::spawn(settings, pool)
    }

    /// A key of organization `org` with only `scopes`.
    pub async fn key_for(&self, org: &str, scopes: &[Scope]) -> String {
        let organization = organizations::ensure(&self.pool, org)
            .await
            .expect("create organization");
        api_keys::create(&self.pool, organization.id, "test", scopes)
            .await
            .expect("create key")
            .secret
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.client.get(self.url(path)).bearer_auth(&self.api_key))
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(&self.api_key)
                .json(body),
        )
        .await
        .expect("POST")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(&self.api_key)
                .json(body),
        )
        .await
        .expect("PATCH")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(
            self.client
                .delete(self.url(path))
                .bearer_auth(&self.api_key),
        )
        .await
        .expect("DELETE")
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.send(self.client.post(self.url(path)).bearer_auth(&self.api_key))
            .await
            .expect("POST")
    }

    /// Sends a request and checks the response against the OpenAPI document
    /// (see [`crate::contract`]); panics with the mismatch.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<Response> {
        send_checked(request).await
    }

    /// `POST …/schemas/refresh` with no options.
    pub async fn request_refresh(&self, connection_id: &str) -> Response {
        self.post_empty(&format!("/api/connections/{connection_id}/schemas/refresh"))
            .await
    }

    /// `POST …/test`, returning its `data`.
    pub async fn check_health(&self, connection_id: &str) -> Value {
        let response = self
            .post_empty(&format!("/api/connections/{connection_id}/test"))
            .await;
        response.json::<Value>().await.expect("JSON body")["data"].clone()
    }

    /// What the worker's refresh function needs, for tests that call it directly.
    pub async fn refresh_context(&self) -> RefreshContext {
        RefreshContext {
            pool: self.pool.clone(),
            secrets: self.store.secret_box().expect("the test key is valid"),
            limits: schemata_sources::SourceLimits::default(),
            policy: AccessPolicy::build(
                &schemata_sources::PolicySettings {
                    sqlite_root: Some(self.sqlite_root.clone()),
                    ..schemata_sources::PolicySettings::local_development()
                },
                &self.store.database_url,
            )
            .await
            .expect("the default policy builds"),
            job_timeout: Duration::from_secs(30),
            // Called directly, a refresh's failure is final.
            retry: schemata_worker::jobs::context::RetryPolicy {
                attempts: 1,
                base_delay: Duration::from_millis(500),
            },
            slots: schemata_store::runs::Slots::default(),
            hand_back: schemata_worker::HandBack::never(),
            claim_pool: schemata_store::runs::ClaimPool::new(&self.pool, 4),
        }
    }

    /// A SQLite file under this app's SQLite root, made from `sql`; returns
    /// its name (relative to the root, as a connection names it).
    pub async fn sqlite_file(&self, name: &str, sql: &str) -> String {
        use sqlx::{ConnectOptions, Connection};
        let path = self.sqlite_root.join(name);
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .expect("create the SQLite file");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .expect("load the SQLite schema");
        conn.close().await.ok();
        name.to_owned()
    }

    /// Creates a connection of `kind` with this configuration and returns its id.
    pub async fn create_source(&self, name: &str, kind: &str, configuration: Value) -> String {
        self.create_connection_with(
            &json!({"name": name, "type": kind, "configuration": configuration}),
        )
        .await
    }

    /// Creates a PostgreSQL connection to `url` and returns its id.
    pub async fn create_connection(&self, name: &str, url: &str) -> String {
        self.create_connection_with(
            &json!({"name": name, "type": "postgresql", "configuration": {"url": url}}),
        )
        .await
    }

    /// Creates a connection from a whole request body and returns its id.
    pub async fn create_connection_with(&self, body: &Value) -> String {
        let response = self.post("/api/connections", body).await;
        assert_eq!(
            response.status(),
            201,
            "create connection: {}",
            response.text().await.unwrap_or_default()
        );
        let body: Value = response.json().await.expect("JSON body");
        body["data"]["id"]
            .as_str()
            .expect("connection id")
            .to_owned()
    }

    pub async fn status(&self, connection_id: &str) -> Value {
        let response = self
            .get(&format!("/api/connections/{connection_id}/schemas/status"))
            .await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("JSON body")["data"].clone()
    }

    /// Polls the status endpoint until the connection's current job has
    /// `status` (`running`, say); fails the test after 30 s.
    pub async fn wait_for_job(&self, connection_id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let current = self.status(connection_id).await;
            if current["current_job"]["status"] == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the current job never became {status}: {current}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the status endpoint, as a client would, until the cache leaves `refreshing`.
    pub async fn wait_for_refresh(&self, connection_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.status(connection_id).await;
            if status["cache_status"] != "refreshing" {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "refresh did not finish within 60 s: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every object the cache holds for a connection, as the worker wrote it.
    pub async fn cached_objects(&self, connection_id: &str) -> Vec<schemata_core::SchemaObject> {
        let id: Uuid = connection_id.parse().expect("a connection id");
        let mut conn = self
            .pool
            .acquire()
            .await
            .expect("a connection to our database");
        let index = schemata_store::snapshots::index(&mut conn, id)
            .await
            .expect("the cache's index");
        let ids: Vec<schemata_core::SchemaId> = index.into_keys().collect();
        let mut objects = schemata_store::snapshots::load(&mut conn, id, &ids)
            .await
            .expect("the cached objects");
        objects.sort_by_key(schemata_core::SchemaObject::id);
        objects
    }

    /// Reads a PostgreSQL source from scratch, as a first refresh would.
    pub async fn full_read(&self, url: &str) -> Vec<schemata_core::SchemaObject> {
        let config = schemata_core::SourceConfig::parse(
            schemata_core::SourceKind::Postgresql,
            &json!({ "url": url }),
        )
        .expect("a valid source URL");
        let policy = AccessPolicy::build(
            &schemata_sources::PolicySettings::local_development(),
            &self.store.database_url,
        )
        .await
        .expect("the default policy builds");
        let source = schemata_sources::connect(
            schemata_core::SourceKind::Postgresql,
            &config,
            schemata_sources::SourceLimits::default(),
            &policy,
        )
        .expect("a source");
        let (_, mut objects) = schemata_sources::introspect_all(
            &source,
            &schemata_sources::IntrospectionScope::default(),
        )
        .await
        .expect("a full read");
        objects.sort_by_key(schemata_core::SchemaObject::id);
        objects
    }

    /// How many refresh runs and queued jobs exist: what a refresh request left behind.
    pub async fn runs_and_jobs(&self) -> (i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM refresh_runs), (SELECT count(*) FROM apalis.jobs)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("count runs and jobs")
    }

    /// Every cached object of a connection, following cursors.
    pub async fn all_objects(&self, connection_id: &str) -> Vec<Value> {
        let mut objects = Vec::new();
        let mut cursor = String::new();
        loop {
            let response = self
                .get(&format!(
                    "/api/connections/{connection_id}/schemas?limit=7&cursor={cursor}"
                ))
                .await;
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("JSON body");
            objects.extend(body["data"].as_array().expect("list").iter().cloned());
            match body["pagination"]["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return objects,
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        let _ = std::fs::remove_dir_all(&self.sqlite_root);
    }
}

/// Sends `request` with the client that built it, then checks the response
/// against the OpenAPI document and hands back an equal response.
pub async fn send_checked(request: reqwest::RequestBuilder) -> reqwest::Result<Response> {
    let (client, request) = request.build_split();
    let request = request?;
    let method = request.method().to_string();
    let path = request.url().path().to_owned();
    let response = client.execute(request).await?;
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Err(mismatch) =
        crate::contract::contract().check(&method, &path, status.as_u16(), content_type, &body)
    {
        panic!("{mismatch}");
    }
    let mut rebuilt = http::Response::builder().status(status).version(version);
    if let Some(slot) = rebuilt.headers_mut() {
        *slot = headers;
    }
    Ok(Response::from(
        rebuilt.body(body).expect("a response rebuilt"),
    ))
}
