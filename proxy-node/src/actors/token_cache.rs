//! The token cache: warm tokens, their project's facts (active, `rate_limit_rpm`) and
//! provider keys from memory (bounded, TTL, short negative entries), evicted immediately on
//! control events. It counts nothing: quotas and request rates are the `Admission`'s
//! (`crate::limits`), the same code path in embedded and distributed mode.
//!
//! Warm hits are answered on the request's own thread from [`warm::SharedWarm`]; the actor
//! loads misses from the store (one load per token and provider however many wait) and keeps
//! draining control events while the request path is idle.

mod warm;

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_platform::settings::TokenCacheSettings;
use llm_proxy_platform::{ApiError, ControlBus};
use llm_proxy_store::{DynStore, StoreError};
use tokio::sync::{broadcast, oneshot};

use crate::admission::{self, Grant, Loaded};
use crate::metrics::Metrics;

use warm::{Answer, SharedWarm, Warm};

/// Requests waiting for an answer beyond this wait for room (each is one in-flight request).
const MAILBOX_CAPACITY: usize = 4096;

pub struct TokenCache {
    store: DynStore,
    metrics: Arc<Metrics>,
    bus: ControlBus,
    warm: SharedWarm,
    loading: HashMap<(String, String), Vec<oneshot::Sender<Answer>>>,
}

impl TokenCache {
    /// Subscribes to the bus now, so no event published after this call is missed.
    pub fn new(
        store: DynStore,
        metrics: Arc<Metrics>,
        bus: ControlBus,
        settings: &TokenCacheSettings,
    ) -> Self {
        Self {
            store,
            metrics,
            warm: SharedWarm::new(Warm::new(bus.subscribe(), settings)),
            bus,
            loading: HashMap::new(),
        }
    }

    fn authorize(
        &mut self,
        hash: String,
        provider: String,
        ctx: &mut Context<Self>,
    ) -> Response<Answer> {
        // A load that finished after the request path looked may have warmed it since.
        if let Some(answer) = self.warm.lock().lookup(&hash, &provider) {
            self.metrics.token_cache_hits.inc();
            return Response::reply(answer);
        }
        self.metrics.token_cache_misses.inc();
        let (tx, rx) = oneshot::channel();
        let key = (hash, provider);
        let waiters = self.loading.entry(key.clone()).or_default();
        waiters.push(tx);
        if waiters.len() == 1 {
            self.start_load(key, ctx);
        }
        Response::fut(async move {
            rx.await
                .unwrap_or_else(|_| Err(ApiError::internal("token lookup was abandoned")))
        })
    }

    fn start_load(&mut self, key: (String, String), ctx: &mut Context<Self>) {
        let generation = {
            let mut warm = self.warm.lock();
            warm.drain_control();
            warm.generation()
        };
        let fut = admission::load(self.store.clone(), key.0.clone(), key.1.clone());
        ctx.spawn(
            fut.into_actor(self)
                .map(move |result, act, ctx| act.finish_load(key, generation, result, ctx)),
        );
    }

    fn finish_load(
        &mut self,
        key: (String, String),
        generation: u64,
        result: Result<Option<Loaded>, StoreError>,
        ctx: &mut Context<Self>,
    ) {
        let answer = {
            let mut warm = self.warm.lock();
            warm.drain_control();
            if generation != warm.generation() && result.is_ok() {
                // A control event arrived while the store was read: the answer may predate it.
                drop(warm);
                self.start_load(key, ctx);
                return;
            }
            match result {
                Err(e) => Err(ApiError::internal(format!("token lookup failed: {e}"))),
                Ok(loaded) => warm.remember(key.0.clone(), loaded, &key.1),
            }
        };
        for waiter in self.loading.remove(&key).unwrap_or_default() {
            let _ = waiter.send(answer.clone());
        }
    }
}

impl Actor for TokenCache {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let wake = futures_util::stream::unfold(self.bus.subscribe(), |mut rx| async move {
            match rx.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        ctx.add_stream(wake);
    }
}

impl StreamHandler<()> for TokenCache {
    fn handle(&mut self, _: (), _ctx: &mut Self::Context) {
        self.warm.lock().drain_control();
    }

    /// The bus closing is no reason to stop serving tokens.
    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

/// May this token call this provider? Counts nothing.
#[derive(Message)]
#[rtype(result = "Result<Grant, ApiError>")]
pub struct Authorize {
    pub token_hash: String,
    pub provider: String,
}

impl Handler<Authorize> for TokenCache {
    type Result = Response<Answer>;

    fn handle(&mut self, msg: Authorize, ctx: &mut Self::Context) -> Self::Result {
        self.authorize(msg.token_hash, msg.provider, ctx)
    }
}

/// A control event delivered directly (tests, or a bus bridge that prefers messages).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Control(pub ControlEvent);

impl Handler<Control> for TokenCache {
    type Result = ();

    fn handle(&mut self, msg: Control, _ctx: &mut Self::Context) {
        let mut warm = self.warm.lock();
        warm.drain_control();
        warm.apply(&msg.0);
    }
}

/// The request path's view of the cache: warm hits from the shared map, the rest through the
/// actor.
#[derive(Clone)]
pub struct TokenCacheHandle {
    addr: Addr<TokenCache>,
    warm: SharedWarm,
    metrics: Arc<Metrics>,
}

impl TokenCacheHandle {
    pub fn start(cache: TokenCache) -> Self {
        let warm = cache.warm.clone();
        let metrics = Arc::clone(&cache.metrics);
        Self {
            addr: TokenCache::create(move |ctx| {
                ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                cache
            }),
            warm,
            metrics,
        }
    }

    pub async fn authorize(&self, token_hash: String, provider: &str) -> Result<Grant, ApiError> {
        let warm = self.warm.lock().lookup(&token_hash, provider);
        if let Some(answer) = warm {
            self.metrics.token_cache_hits.inc();
            return answer;
        }
        self.addr
            .send(Authorize {
                token_hash,
                provider: provider.to_owned(),
            })
            .await
            .map_err(|e| ApiError::internal(format!("token cache unavailable: {e}")))?
    }

    pub fn addr(&self) -> &Addr<TokenCache> {
        &self.addr
    }
}
