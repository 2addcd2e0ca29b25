//! Builds the HTTP server on a bound listener, so tests can use port 0.

use crate::{
    ApiSettings, error::ApiError, health_slots::HealthSlots, middleware, openapi, routes,
    state::AppState,
};
use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use schemata_sources::AccessPolicy;
use schemata_store::PgPool;
use std::net::TcpListener;

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
        Self::build_with_pool(settings, pool).await
    }

    pub async fn build_with_pool(settings: ApiSettings, pool: PgPool) -> anyhow::Result<Self> {
        schemata_telemetry::metrics::recorder();
        let secrets = settings.store.secret_box().map_err(anyhow::Error::msg)?;
        let policy = AccessPolicy::build(&settings.sources.policy, &settings.store.database_url)
            .await
            .map_err(anyhow::Error::msg)
            .context("Invalid source access policy")?;
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("Failed to bind {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let status_cache = crate::status_cache::StatusCache::new(settings.status_cache_ttl);
        status_cache.listen(settings.store.database_url.clone());
        let state = web::Data::new(AppState {
            status_cache,
            pool,
            secrets,
            source_limits: settings.sources.limits,
            policy,
            health_timeout: settings.health_timeout,
            health_verdict_ttl: settings.health_verdict_ttl,
            health_slots: HealthSlots::new(
                settings.max_concurrent_health_checks,
                settings.health_checks_per_organization,
            ),
            refresh_requests_per_minute: settings.refresh_requests_per_minute,
            key_cache: crate::key_cache::KeyCache::new(settings.api_key_cache_ttl),
            revalidations: crate::revalidate::Revalidations::default(),
            openapi_json: openapi::document_json().into(),
        });
        let server = HttpServer::new(move || {
            App::new()
                // The last wrap is the outermost: request id, then the key, then input hygiene.
                .wrap(from_fn(middleware::status_cache::forget_after_writes))
                .wrap(from_fn(middleware::clean_input::reject_nul))
                .wrap(from_fn(middleware::authenticate::authenticate))
                .wrap(from_fn(middleware::request_id::middleware))
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

/// What `schemata-api` (and `schemata api`) run: settings from the environment,
/// serve until SIGINT/SIGTERM.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = ApiSettings::from_env()
        .map_err(anyhow::Error::msg)
        .context("Invalid configuration")?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "schemata-api listening");
    application
        .run_until_stopped()
        .await
        .context("The API server failed")
}
