//! The response cache (issue 8): answers kept per project in memory (bounded, LRU) or in
//! Redis, chosen by `cache.backend`; GET/HEAD when the upstream allows, POST only on the
//! request's opt-in; completed event streams replayed as streams. Purges arrive as control
//! events (`POST /manage/cache/purge` publishes them), so every node, and the shared Redis,
//! drops the entries.

pub mod entry;
pub mod key;
mod memory;
pub mod policy;
mod recorder;
mod redis;
pub mod status;
mod store;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use bytes::Bytes;
use llm_proxy_core::control::{CachePurgeScope, ControlEvent};
use llm_proxy_platform::settings::{CacheBackend, CacheSettings};
use llm_proxy_platform::{ControlBus, Settings};
use tokio::sync::broadcast::error::RecvError;

pub use entry::{Item, Meta};
pub use key::KeyParts;
pub use memory::MemoryStore;
pub use recorder::Recorder;
pub use redis::RedisStore;
pub use store::CacheStore;

use crate::error::ProxyError;
use crate::metrics::Metrics;
use policy::RequestPlan;

/// The cache, or nothing when `cache.enabled = false`; cheap to clone.
#[derive(Clone, Default)]
pub struct ResponseCache {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    store: Arc<dyn CacheStore>,
    settings: CacheSettings,
    metrics: Arc<Metrics>,
}

/// A request the cache may answer or learn from.
#[derive(Debug)]
pub struct Lookup {
    pub primary: String,
    /// Look up before going upstream.
    pub lookup: bool,
    pub opt_in: Option<Duration>,
    /// For `Vary`.
    pub request_headers: HeaderMap,
}

pub enum CachePlan {
    Off,
    Bypass(&'static str),
    Use(Arc<Lookup>),
}

pub struct Hit {
    pub key: String,
    pub meta: Meta,
    pub body: Bytes,
}

pub enum Found {
    Hit(Hit),
    Miss { vary_miss: bool },
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl ResponseCache {
    /// Memory or Redis as `cache.backend` says (`auto`: Redis when `redis.url` is set). Must be
    /// called inside a Tokio runtime (Redis connects lazily).
    pub fn from_settings(settings: &Settings, metrics: Arc<Metrics>) -> Result<Self, ProxyError> {
        let cache = &settings.cache;
        if !cache.enabled {
            return Ok(Self::default());
        }
        let redis_url = settings.redis.url.as_ref().map(|u| u.expose());
        let store: Arc<dyn CacheStore> = match (cache.backend, redis_url) {
            (CacheBackend::Memory, _) | (CacheBackend::Auto, None) => {
                Arc::new(MemoryStore::new(cache.max_bytes))
            }
            (CacheBackend::Redis | CacheBackend::Auto, Some(url)) => Arc::new(RedisStore::new(
                url,
                &settings.redis.key_prefix,
                Duration::from_millis(cache.redis_timeout_ms),
            )?),
            (CacheBackend::Redis, None) => {
                return Err(ProxyError::Settings(
                    "cache.backend = \"redis\" needs redis.url".to_owned(),
                ))
            }
        };
        Ok(Self::with_store(store, cache.clone(), metrics))
    }

    pub fn with_store(
        store: Arc<dyn CacheStore>,
        settings: CacheSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                store,
                settings,
                metrics,
            })),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub fn backend(&self) -> &'static str {
        self.inner.as_ref().map_or("off", |i| i.store.name())
    }

    pub fn plan(&self, method: &Method, headers: &HeaderMap, parts: &KeyParts<'_>) -> CachePlan {
        if self.inner.is_none() {
            return CachePlan::Off;
        }
        match policy::plan_request(method, headers) {
            RequestPlan::Bypass(reason) => CachePlan::Bypass(reason),
            RequestPlan::Cacheable { lookup, opt_in } => CachePlan::Use(Arc::new(Lookup {
                primary: key::primary(parts),
                lookup,
                opt_in,
                request_headers: headers.clone(),
            })),
        }
    }

    /// A backend failure or a slow backend is a miss, never an error for the client.
    async fn get(&self, inner: &Inner, key: &str) -> Option<Item> {
        let wait = Duration::from_millis(inner.settings.redis_timeout_ms);
        match tokio::time::timeout(wait, inner.store.get(key)).await {
            Ok(Ok(item)) => item,
            Ok(Err(e)) => {
                inner.metrics.cache_error();
                tracing::warn!(error = %e, "response cache lookup failed; treating it as a miss");
                None
            }
            Err(_) => {
                inner.metrics.cache_error();
                tracing::warn!("response cache lookup timed out; treating it as a miss");
                None
            }
        }
    }

    pub async fn find(&self, lookup: &Lookup) -> Found {
        let Some(inner) = &self.inner else {
            return Found::Miss { vary_miss: false };
        };
        let item = match self.get(inner, &lookup.primary).await {
            Some(Item::Vary(names)) => {
                let key = key::variant(&lookup.primary, &names, &lookup.request_headers);
                match self.get(inner, &key).await {
                    Some(item) => item,
                    None => return Found::Miss { vary_miss: true },
                }
            }
            Some(item) => item,
            None => return Found::Miss { vary_miss: false },
        };
        match item {
            // Purging the primary key purges its variants too, so it is the one shown.
            Item::Answer { meta, body } => Found::Hit(Hit {
                key: lookup.primary.clone(),
                meta,
                body,
            }),
            Item::Vary(_) => Found::Miss { vary_miss: true },
        }
    }

    /// A recorder for an upstream answer the cache may keep, or `None` when it may not.
    pub fn recorder(
        &self,
        lookup: Arc<Lookup>,
        status: u16,
        response_headers: &HeaderMap,
        is_sse: bool,
        declared_length: Option<u64>,
    ) -> Option<Recorder> {
        let inner = self.inner.as_ref()?;
        let settings = &inner.settings;
        if is_sse && (lookup.opt_in.is_none() || !settings.streams) {
            return None;
        }
        if declared_length.is_some_and(|n| n > settings.max_object_bytes as u64) {
            return None;
        }
        let ttl = policy::response_ttl(status, response_headers, lookup.opt_in, settings)?;
        let vary = policy::vary_names(response_headers)?;
        Some(Recorder::new(
            self.clone(),
            lookup,
            status,
            status::stored_headers(response_headers),
            ttl,
            vary,
            is_sse,
            settings.max_object_bytes,
        ))
    }

    /// Stores an answer (and the `Vary` names under the primary key when it varies).
    pub async fn put(
        &self,
        lookup: &Lookup,
        vary: Vec<String>,
        meta: Meta,
        body: Bytes,
        ttl: Duration,
    ) -> Result<(), ProxyError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let answer = Item::Answer { meta, body };
        if vary.is_empty() {
            return inner.store.put(&lookup.primary, answer, ttl).await;
        }
        let key = key::variant(&lookup.primary, &vary, &lookup.request_headers);
        inner.store.put(&key, answer, ttl).await?;
        inner
            .store
            .put(&lookup.primary, Item::Vary(vary), ttl)
            .await
    }

    pub async fn purge(&self, scope: &CachePurgeScope) -> Result<u64, ProxyError> {
        let Some(inner) = &self.inner else {
            return Ok(0);
        };
        let n = inner.store.purge(scope).await?;
        inner.metrics.cache_purged(n);
        Ok(n)
    }

    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.inner.as_ref().map(|i| i.metrics.as_ref())
    }

    /// Purges whatever `ControlEvent::CachePurge` names, from now on. Must be called inside
    /// an actix `System`.
    pub fn listen(&self, control: &ControlBus) {
        if self.inner.is_none() {
            return;
        }
        let mut events = control.subscribe();
        let cache = self.clone();
        actix_rt::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ControlEvent::CachePurge { scope }) => match cache.purge(&scope).await {
                        Ok(n) => tracing::info!(?scope, purged = n, "response cache purged"),
                        Err(e) => tracing::warn!(?scope, error = %e, "response cache purge failed"),
                    },
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "response cache missed control events");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
}
