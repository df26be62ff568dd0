//! `Application::build(settings)`: connects to Redis, starts one loop per enabled sink, a
//! gauge refresher, and the HTTP server (port 0 in tests).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use llm_proxy_platform::redis::{connection_manager, KeySpace};
use llm_proxy_platform::Settings;

use crate::dispatcher::RedisDispatcher;
use crate::error::DispatcherError;
use crate::metrics::Metrics;
use crate::routes::{configure, DispatcherState};
use crate::sink::enabled_sinks;
use crate::status::{collect, record};

pub struct Application {
    port: u16,
    server: Server,
    dispatcher: RedisDispatcher,
    stats: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("dispatcher", &self.dispatcher)
            .finish()
    }
}

impl Application {
    /// Call inside an actix `System` (`#[actix_web::main]`, `#[actix_web::test]`).
    pub async fn build(settings: Arc<Settings>) -> Result<Self, DispatcherError> {
        let url = settings
            .redis
            .url
            .as_ref()
            .ok_or(DispatcherError::RedisNotConfigured)?;
        let redis = connection_manager(url.expose(), Duration::from_secs(2)).await?;
        let metrics = Arc::new(Metrics::new());
        let dispatcher = RedisDispatcher::start(&settings, enabled_sinks(&settings)?, &metrics)?;
        if dispatcher.sinks().is_empty() {
            tracing::warn!("no sink is enabled: the dispatcher reads nothing");
        }

        let stats = {
            let mut conn = redis.clone();
            let keys = KeySpace::from_settings(&settings);
            let enabled = settings.sinks.enabled();
            let metrics = metrics.clone();
            let every = Duration::from_millis(settings.dispatcher.stats_interval_ms);
            actix_rt::spawn(async move {
                loop {
                    match collect(&mut conn, &keys, &enabled).await {
                        Ok(report) => record(&report, &metrics),
                        Err(e) => tracing::debug!(error = %e, "cannot refresh stream gauges"),
                    }
                    tokio::time::sleep(every).await;
                }
            })
        };

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .map_err(|e| DispatcherError::io(format!("cannot listen on {address}"), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| DispatcherError::io("cannot read the bound address", e))?
            .port();
        let state = DispatcherState {
            metrics: metrics.clone(),
            redis: Some(redis),
        };
        let routes = configure(state);
        let server = HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(settings.server.workers.unwrap_or(1))
            .shutdown_timeout(settings.server.shutdown_timeout_secs)
            .listen(listener)
            .map_err(|e| DispatcherError::io(format!("cannot listen on {address}"), e))?
            .run();
        tracing::info!(port, sinks = ?dispatcher.sinks(), "dispatcher listening");
        Ok(Self {
            port,
            server,
            dispatcher,
            stats,
            metrics,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Stops the HTTP server (as SIGTERM does); `run_until_stopped` then stops the sinks.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or `server_handle().stop()`), then stops every sink loop
    /// gracefully (entries in flight stay pending for the next run).
    pub async fn run_until_stopped(self) -> Result<(), DispatcherError> {
        let served = self.server.await;
        self.stats.abort();
        self.dispatcher.stop(self.shutdown_timeout).await;
        served.map_err(|e| DispatcherError::io("server stopped with an error", e))
    }
}
