//! `ProxyState`: everything the request path shares, cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use llm_proxy_limits::DynAdmission;
use llm_proxy_platform::{ControlBus, ErrorFlavor, Settings};
use llm_proxy_store::DynStore;
use rustls::ClientConfig;

use crate::actors::event_log::{EventLog, EventLogHandle};
use crate::actors::token_cache::{TokenCache, TokenCacheHandle};
use crate::actors::usage_writer::{UsageWriter, UsageWriterHandle};
use crate::cache::ResponseCache;
use crate::error::ProxyError;
use crate::events::{EventSink, FileSink};
use crate::forward::response::Finisher;
use crate::metrics::Metrics;
use crate::provider::Providers;
use crate::resilience::{Concurrency, Drain, Upstreams};
use crate::session::{self, DynSessionTracker};

#[derive(Clone)]
pub struct ProxyState {
    pub settings: Arc<Settings>,
    pub store: DynStore,
    pub providers: Providers,
    pub node: Arc<str>,
    pub metrics: Arc<Metrics>,
    pub tokens: TokenCacheHandle,
    /// Quotas and request rates: one atomic check per request.
    pub admission: DynAdmission,
    /// Writes what `admission` counted back to the store, in batches.
    pub usage: UsageWriterHandle,
    pub sessions: DynSessionTracker,
    pub events: EventLogHandle,
    /// The response cache (memory or Redis), purged by control events.
    pub cache: ResponseCache,
    /// Circuit breaker and retry budget per upstream.
    pub upstreams: Arc<Upstreams>,
    /// Requests in flight per provider.
    pub concurrency: Concurrency,
    drain: Drain,
    pub(crate) tls: Arc<ClientConfig>,
}

/// The replaceable parts of a [`ProxyState`]; each `None` is built from the settings:
/// the file sink under `Settings::events_dir()`, `llm_proxy_limits::build` (memory, or Redis
/// behind `redis.unavailable_policy` when `redis.url` is set), and `session::build` (the
/// session actor, or Redis when `redis.url` is set).
#[derive(Default)]
pub struct ProxyParts {
    pub sink: Option<Arc<dyn EventSink>>,
    pub admission: Option<DynAdmission>,
    pub sessions: Option<DynSessionTracker>,
    /// A response cache shared with something else, e.g. a test that inspects it.
    pub cache: Option<ResponseCache>,
}

impl ProxyParts {
    pub fn with_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    pub fn with_admission(mut self, admission: DynAdmission) -> Self {
        self.admission = Some(admission);
        self
    }

    pub fn with_sessions(mut self, sessions: DynSessionTracker) -> Self {
        self.sessions = Some(sessions);
        self
    }

    pub fn with_cache(mut self, cache: ResponseCache) -> Self {
        self.cache = Some(cache);
        self
    }
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
    /// Everything from the settings (see [`ProxyParts`]). Must be called inside an actix
    /// `System`.
    pub fn start(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
    ) -> Result<Self, ProxyError> {
        Self::start_with(settings, store, control, ProxyParts::default())
    }

    /// As [`Self::start`], with another event sink (Redis Streams, tests).
    pub fn start_with_sink(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
        sink: Arc<dyn EventSink>,
    ) -> Result<Self, ProxyError> {
        Self::start_with(
            settings,
            store,
            control,
            ProxyParts::default().with_sink(sink),
        )
    }

    /// Starts the token cache, usage writer and event log actors around the given parts.
    /// Must be called inside an actix `System`.
    pub fn start_with(
        settings: Arc<Settings>,
        store: DynStore,
        control: ControlBus,
        parts: ProxyParts,
    ) -> Result<Self, ProxyError> {
        settings
            .validate()
            .map_err(|e| ProxyError::Settings(e.to_string()))?;
        let tls = crate::forward::client::tls_config()?;
        let sink: Arc<dyn EventSink> = match parts.sink {
            Some(sink) => sink,
            None => Arc::new(FileSink::new(settings.events_dir())?),
        };
        let admission = match parts.admission {
            Some(admission) => admission,
            None => llm_proxy_limits::build(&settings)?,
        };
        let sessions = match parts.sessions {
            Some(sessions) => sessions,
            None => session::build(&settings)?,
        };
        let mut metrics = Metrics::new();
        metrics.register_admission(Arc::clone(&admission));
        let metrics = Arc::new(metrics);
        let cache = match parts.cache {
            Some(cache) => cache,
            None => ResponseCache::from_settings(&settings, Arc::clone(&metrics))?,
        };
        cache.listen(&control);
        let providers = Providers::from_settings(&settings);
        let upstreams = Arc::new(Upstreams::new(
            settings.resilience.clone(),
            Arc::clone(&metrics),
        ));
        let tokens = TokenCacheHandle::start(TokenCache::new(
            store.clone(),
            Arc::clone(&metrics),
            control,
            &settings.token_cache,
        ));
        let usage = UsageWriterHandle::start(UsageWriter::new(
            Arc::clone(&admission),
            store.clone(),
            settings.token_cache.flush_interval_ms,
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
            concurrency: Concurrency::new(&providers),
            providers,
            cache,
            upstreams,
            drain: Drain::default(),
            node: Arc::from(settings.node_name()),
            settings,
            store,
            metrics,
            tokens,
            admission,
            usage,
            sessions,
            events,
            tls,
        })
    }

    /// Readiness fails from now on (graceful drain); the server keeps serving until stopped.
    pub fn begin_drain(&self) {
        self.drain.begin();
    }

    pub fn is_draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// The drain flag, for [`crate::resilience::drain::on_signal`].
    pub fn drain_handle(&self) -> Drain {
        self.drain.clone()
    }

    /// Writes counted requests and queued events; call after the server stopped.
    pub async fn shutdown(&self) {
        self.usage.flush().await;
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
