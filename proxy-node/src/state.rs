//! `ProxyState`: everything the request path shares, cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use llm_proxy_platform::{ControlBus, ErrorFlavor, Settings};
use llm_proxy_store::DynStore;
use rustls::ClientConfig;

use crate::actors::event_log::{EventLog, EventLogHandle};
use crate::actors::token_cache::{TokenCache, TokenCacheHandle};
use crate::error::ProxyError;
use crate::events::{EventSink, FileSink};
use crate::forward::response::Finisher;
use crate::metrics::Metrics;
use crate::provider::Providers;

#[derive(Clone)]
pub struct ProxyState {
    pub settings: Arc<Settings>,
    pub store: DynStore,
    pub providers: Providers,
    pub node: Arc<str>,
    pub metrics: Arc<Metrics>,
    pub tokens: TokenCacheHandle,
    pub events: EventLogHandle,
    pub(crate) tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("node", &self.node)
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl ProxyState {
    /// Starts the token cache and event log actors with the file sink under
    /// `Settings::events_dir()`. Must be called inside an actix `System`.
    pub fn start(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
    ) -> Result<Self, ProxyError> {
        let sink: Arc<dyn EventSink> = Arc::new(FileSink::new(settings.events_dir())?);
        Self::start_with_sink(settings, store, control, sink)
    }

    /// As [`Self::start`], with another event sink (Redis Streams, tests).
    pub fn start_with_sink(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
        sink: Arc<dyn EventSink>,
    ) -> Result<Self, ProxyError> {
        settings
            .validate()
            .map_err(|e| ProxyError::Settings(e.to_string()))?;
        let tls = crate::forward::client::tls_config()?;
        let metrics = Arc::new(Metrics::new());
        let tokens = TokenCacheHandle::start(TokenCache::new(
            store.clone(),
            Arc::clone(&metrics),
            control,
            &settings.token_cache,
        ));
        let events = if settings.events.enabled {
            EventLogHandle::start(EventLog::new(
                sink,
                Arc::clone(&metrics),
                settings.events.queue_capacity,
            ))
        } else {
            EventLogHandle::disabled(Arc::clone(&metrics))
        };
        Ok(Self {
            providers: Providers::from_settings(&settings),
            node: Arc::from(settings.node_name()),
            settings,
            store,
            metrics,
            tokens,
            events,
            tls,
        })
    }

    /// Writes queued events and counted requests; call after the server stopped.
    pub async fn shutdown(&self) {
        self.tokens.flush().await;
        self.events.flush().await;
    }

    pub(crate) fn finisher(&self, flavor: ErrorFlavor, idle_timeout: Duration) -> Finisher {
        Finisher {
            flavor,
            events: self.events.clone(),
            metrics: Arc::clone(&self.metrics),
            body_cap: self.settings.events.body_cap_bytes,
            idle_timeout,
        }
    }
}
