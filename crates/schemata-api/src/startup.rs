//! Builds the HTTP server on a bound listener, so tests can use port 0.

use crate::{ApiSettings, error::ApiError, request_id, routes, state::AppState};
use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use schemata_sources::SourceLimits;
use schemata_store::PgPool;
use std::{net::TcpListener, sync::Arc};
use tokio::sync::Semaphore;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to a migrated database and binds the listener.
    pub async fn build(settings: ApiSettings) -> anyhow::Result<Self> {
        let pool = settings
            .store
            .connect_migrated()
            .await
            .context("Failed to open the Schemata database")?;
        Self::build_with_pool(settings, pool)
    }

    pub fn build_with_pool(settings: ApiSettings, pool: PgPool) -> anyhow::Result<Self> {
        let secrets = settings.store.secret_box().map_err(anyhow::Error::msg)?;
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("Failed to bind {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            pool,
            secrets,
            source_limits: SourceLimits {
                connect_timeout: settings.health_timeout,
                statement_timeout: settings.source_statement_timeout,
            },
            health_timeout: settings.health_timeout,
            health_gate: Arc::new(Semaphore::new(settings.max_concurrent_health_checks.max(1))),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(request_id::middleware))
                .app_data(state.clone())
                .app_data(routes::json_config())
                .app_data(routes::path_config())
                .app_data(routes::query_config())
                .configure(routes::configure)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::NotFound("No such route.".into()))
                }))
        })
        .workers(settings.http_workers.max(1))
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (actix handles both) or the handle stops it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
