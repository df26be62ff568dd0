//! `Application`: binds `server.host:server.port` (port 0 in tests) and serves the health and
//! proxy routes. `main` and the integration tests share it. SIGTERM/SIGINT drain gracefully
//! ([`crate::resilience::drain`]): readiness fails, the listener closes after
//! `server.drain_delay_secs`, requests in flight get `server.shutdown_timeout_secs`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use llm_proxy_platform::{ControlBus, Settings};
use llm_proxy_store::DynStore;

use crate::connection;
use crate::error::ProxyError;
use crate::routes::{configure_health, configure_proxy};
use crate::state::{ProxyParts, ProxyState};

pub struct Application {
    port: u16,
    server: Server,
    state: ProxyState,
    drain_delay: Duration,
}

impl Application {
    /// Starts the actors and binds the listener. Must be called inside an actix `System`.
    pub fn build(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
    ) -> Result<Self, ProxyError> {
        Self::build_with(settings, store, control, ProxyParts::default())
    }

    /// As [`Self::build`], with parts (event sink, admission, session sequencer) given instead
    /// of built from the settings.
    pub fn build_with(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
        parts: ProxyParts,
    ) -> Result<Self, ProxyError> {
        let state = ProxyState::start_with(Arc::clone(&settings), store, control, parts)?;
        Self::with_state(settings, state)
    }

    /// Binds and builds the server around an already started state.
    pub fn with_state(settings: Arc<Settings>, state: ProxyState) -> Result<Self, ProxyError> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let bind_error = |source| ProxyError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let health = configure_health(state.clone());
        let proxy = configure_proxy(state.clone());
        let routes = move |cfg: &mut actix_web::web::ServiceConfig| {
            health(cfg);
            proxy(cfg);
        };
        // Signals start a drain (readiness first), see `run_until_stopped`.
        let server = connection::serve(listener, &settings.server, routes).map_err(bind_error)?;
        Ok(Self {
            port,
            server,
            state,
            drain_delay: Duration::from_secs(settings.server.drain_delay_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    /// Stops the server (gracefully with `graceful = true`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT/SIGTERM or `handle().stop()`), then flushes
    /// events and usage counters.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_rt::spawn(crate::resilience::drain::on_signal(
            vec![self.state.drain_handle()],
            self.server.handle(),
            self.drain_delay,
        ));
        let result = self.server.await;
        self.state.shutdown().await;
        result
    }
}
