//! The token cache actor: warm tokens, their project's facts (active, `rate_limit_rpm`) and
//! provider keys from memory (bounded, TTL, short negative entries), evicted immediately on
//! control events. It counts nothing: quotas and request rates are the `Admission`'s
//! (`crate::limits`), the same code path in embedded and distributed mode.
//!
//! Control events are read from the actor's own `ControlBus` receiver at the start of every
//! message, so a revocation published before a request was sent is applied before that request
//! is decided; a second subscription only wakes the actor when it is idle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::token::Token;
use llm_proxy_core::{ErrorCode, SecretString};
use llm_proxy_platform::settings::TokenCacheSettings;
use llm_proxy_platform::{ApiError, ControlBus};
use llm_proxy_store::{DynStore, StoreError};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::admission::{self, Grant, Loaded, ProjectFacts};
use crate::metrics::Metrics;

type Answer = Result<Grant, ApiError>;

/// Requests waiting for an answer beyond this wait for room (each is one in-flight request).
const MAILBOX_CAPACITY: usize = 4096;

struct Entry {
    token: Token,
    project: ProjectFacts,
    keys: HashMap<String, Option<SecretString>>,
    expires: Instant,
}

pub struct TokenCache {
    store: DynStore,
    metrics: Arc<Metrics>,
    bus: ControlBus,
    control: broadcast::Receiver<ControlEvent>,
    capacity: usize,
    ttl: Duration,
    negative_ttl: Duration,
    entries: HashMap<String, Entry>,
    by_token: HashMap<Uuid, String>,
    negative: HashMap<String, Instant>,
    loading: HashMap<(String, String), Vec<oneshot::Sender<Answer>>>,
    /// Bumped by every control event; a load that started before a bump is not cached.
    generation: u64,
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
            control: bus.subscribe(),
            bus,
            capacity: settings.capacity.max(1),
            ttl: Duration::from_secs(settings.ttl_secs),
            negative_ttl: Duration::from_secs(settings.negative_ttl_secs),
            entries: HashMap::new(),
            by_token: HashMap::new(),
            negative: HashMap::new(),
            loading: HashMap::new(),
            generation: 0,
        }
    }

    fn drain_control(&mut self) {
        loop {
            match self.control.try_recv() {
                Ok(event) => self.apply(&event),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "token cache missed control events; flushing it");
                    self.apply(&ControlEvent::FlushAll);
                }
                Err(_) => break,
            }
        }
    }

    fn apply(&mut self, event: &ControlEvent) {
        self.generation += 1;
        match event {
            ControlEvent::TokenChanged { token_id } => {
                if let Some(hash) = self.by_token.remove(token_id) {
                    self.entries.remove(&hash);
                }
            }
            ControlEvent::ProjectChanged { project_id } => {
                let by_token = &mut self.by_token;
                self.entries.retain(|_, entry| {
                    let keep = entry.token.project_id != *project_id;
                    if !keep {
                        by_token.remove(&entry.token.id);
                    }
                    keep
                });
            }
            ControlEvent::FlushAll => {
                self.entries.clear();
                self.by_token.clear();
                self.negative.clear();
            }
            ControlEvent::CachePurge { .. } => {}
        }
    }

    fn authorize(
        &mut self,
        hash: String,
        provider: String,
        ctx: &mut Context<Self>,
    ) -> Response<Answer> {
        self.drain_control();
        let now = Instant::now();
        if let Some(entry) = self.entries.get(&hash) {
            if now < entry.expires && entry.keys.contains_key(&provider) {
                self.metrics.token_cache_hits.inc();
                return Response::reply(admission::decide(
                    &entry.token,
                    entry.project,
                    &entry.keys,
                    &provider,
                    Utc::now(),
                ));
            }
        }
        if self.negative.get(&hash).is_some_and(|until| now < *until) {
            self.metrics.token_cache_hits.inc();
            return Response::reply(Err(ErrorCode::TokenNotFound.into()));
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
        let generation = self.generation;
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
        self.drain_control();
        if generation != self.generation && result.is_ok() {
            // A control event arrived while the store was read: the answer may predate it.
            self.start_load(key, ctx);
            return;
        }
        let waiters = self.loading.remove(&key).unwrap_or_default();
        let (hash, provider) = key;
        let now = Instant::now();
        let answer = match result {
            Err(e) => Err(ApiError::internal(format!("token lookup failed: {e}"))),
            Ok(None) => {
                self.remember_unknown(hash, now);
                Err(ErrorCode::TokenNotFound.into())
            }
            Ok(Some(loaded)) => {
                let entry = self.insert(hash, loaded, now);
                admission::decide(
                    &entry.token,
                    entry.project,
                    &entry.keys,
                    &provider,
                    Utc::now(),
                )
            }
        };
        for waiter in waiters {
            let _ = waiter.send(answer.clone());
        }
    }

    fn insert(&mut self, hash: String, loaded: Loaded, now: Instant) -> &Entry {
        if !self.entries.contains_key(&hash) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        self.by_token.insert(loaded.token.id, hash.clone());
        let expires = now + self.ttl;
        let entry = self.entries.entry(hash).or_insert_with(|| Entry {
            token: loaded.token.clone(),
            project: loaded.project,
            keys: HashMap::new(),
            expires,
        });
        entry.token = loaded.token;
        entry.project = loaded.project;
        entry.keys.insert(loaded.provider, loaded.key);
        entry.expires = expires;
        entry
    }

    /// Drops expired entries, then the eighth closest to expiry.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
        if self.entries.len() >= self.capacity {
            let mut by_age: Vec<(Instant, String)> = self
                .entries
                .iter()
                .map(|(h, e)| (e.expires, h.clone()))
                .collect();
            by_age.sort();
            let drop = (self.capacity / 8).max(1);
            for (_, hash) in by_age.into_iter().take(drop) {
                self.entries.remove(&hash);
            }
        }
        let entries = &self.entries;
        self.by_token.retain(|_, hash| entries.contains_key(hash));
    }

    fn remember_unknown(&mut self, hash: String, now: Instant) {
        if self.negative_ttl.is_zero() {
            return;
        }
        if self.negative.len() >= self.capacity {
            self.negative.retain(|_, until| *until > now);
            if self.negative.len() >= self.capacity {
                self.negative.clear();
            }
        }
        self.negative.insert(hash, now + self.negative_ttl);
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
        self.drain_control();
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
        self.drain_control();
        self.apply(&msg.0);
    }
}

/// The request path's view of the actor.
#[derive(Clone)]
pub struct TokenCacheHandle {
    addr: Addr<TokenCache>,
}

impl TokenCacheHandle {
    pub fn start(cache: TokenCache) -> Self {
        Self {
            addr: TokenCache::create(move |ctx| {
                ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                cache
            }),
        }
    }

    pub async fn authorize(&self, token_hash: String, provider: &str) -> Result<Grant, ApiError> {
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
