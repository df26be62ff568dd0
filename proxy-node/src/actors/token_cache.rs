//! The token cache actor: warm tokens from memory (bounded, TTL, short negative entries), the
//! single place that checks and counts `max_requests` (so N concurrent requests against a quota
//! of k admit exactly k), batched write-back of counted requests, and immediate eviction on
//! control events.
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
use llm_proxy_core::token::{Token, TokenUsage};
use llm_proxy_core::{ErrorCode, SecretString};
use llm_proxy_platform::settings::TokenCacheSettings;
use llm_proxy_platform::{ApiError, ControlBus};
use llm_proxy_store::{DynStore, StoreError};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::admission::{self, Grant, Loaded};
use crate::metrics::Metrics;

type Answer = Result<Grant, ApiError>;

/// Requests waiting for an answer beyond this wait for room (each is one in-flight request).
const MAILBOX_CAPACITY: usize = 4096;

struct Entry {
    token: Token,
    project_active: bool,
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
    flush_every: Duration,
    entries: HashMap<String, Entry>,
    by_token: HashMap<Uuid, String>,
    negative: HashMap<String, Instant>,
    loading: HashMap<(String, String), Vec<oneshot::Sender<Answer>>>,
    /// Bumped by every control event; a load that started before a bump is not cached.
    generation: u64,
    /// Requests counted per token (store count at first sight + everything admitted since).
    counters: HashMap<Uuid, u64>,
    pending: HashMap<Uuid, TokenUsage>,
    in_flight: Option<HashMap<Uuid, TokenUsage>>,
    flush_waiters: Vec<oneshot::Sender<()>>,
    stopping: bool,
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
            flush_every: Duration::from_millis(settings.flush_interval_ms.max(10)),
            entries: HashMap::new(),
            by_token: HashMap::new(),
            negative: HashMap::new(),
            loading: HashMap::new(),
            generation: 0,
            counters: HashMap::new(),
            pending: HashMap::new(),
            in_flight: None,
            flush_waiters: Vec::new(),
            stopping: false,
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
                let used = self.counters.get(&entry.token.id).copied().unwrap_or(0);
                return Response::reply(admission::decide(
                    &entry.token,
                    entry.project_active,
                    &entry.keys,
                    &provider,
                    used,
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
                let used = self.counters.entry(loaded.token.id).or_insert(0);
                *used = (*used).max(loaded.token.request_count);
                let used = *used;
                let entry = self.insert(hash, loaded, now);
                admission::decide(
                    &entry.token,
                    entry.project_active,
                    &entry.keys,
                    &provider,
                    used,
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
            project_active: loaded.project_active,
            keys: HashMap::new(),
            expires,
        });
        entry.token = loaded.token;
        entry.project_active = loaded.project_active;
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

    fn consume(&mut self, msg: Consume) -> Result<(), ApiError> {
        let used = self.counters.entry(msg.token_id).or_insert(msg.used);
        admission::consume(used, msg.max_requests)?;
        let now = Utc::now();
        self.pending
            .entry(msg.token_id)
            .and_modify(|u| {
                u.requests += 1;
                u.last_used_at = now;
            })
            .or_insert(TokenUsage {
                token_id: msg.token_id,
                requests: 1,
                last_used_at: now,
            });
        Ok(())
    }

    /// Writes counted requests back; one batch at a time.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.is_some() {
            return;
        }
        if self.pending.is_empty() {
            self.flushed(ctx);
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        let list: Vec<TokenUsage> = batch.values().cloned().collect();
        self.in_flight = Some(batch);
        let store = self.store.clone();
        let fut = async move { store.record_token_usage(&list).await };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            let batch = act.in_flight.take().unwrap_or_default();
            match result {
                Ok(()) => {
                    if !act.pending.is_empty() && (!act.flush_waiters.is_empty() || act.stopping) {
                        act.flush(ctx);
                        return;
                    }
                }
                Err(e) if act.stopping => {
                    tracing::error!(error = %e, tokens = batch.len(), "lost token usage counts at shutdown");
                }
                Err(e) => {
                    tracing::warn!(error = %e, tokens = batch.len(), "cannot write token usage; will retry");
                    for (id, usage) in batch {
                        act.pending
                            .entry(id)
                            .and_modify(|u| u.requests += usage.requests)
                            .or_insert(usage);
                    }
                }
            }
            act.trim_counters();
            act.flushed(ctx);
        }));
    }

    fn flushed(&mut self, ctx: &mut Context<Self>) {
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.send(());
        }
        if self.stopping {
            ctx.stop();
        }
    }

    /// Counters of tokens neither cached nor waiting to be written can be re-read from the store.
    fn trim_counters(&mut self) {
        if self.counters.len() <= self.capacity {
            return;
        }
        let (by_token, pending) = (&self.by_token, &self.pending);
        self.counters
            .retain(|id, _| by_token.contains_key(id) || pending.contains_key(id));
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
        ctx.run_interval(self.flush_every, |act, ctx| act.flush(ctx));
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        if self.pending.is_empty() && self.in_flight.is_none() {
            return Running::Stop;
        }
        if !self.stopping {
            self.stopping = true;
            self.flush(ctx);
        }
        Running::Continue
    }
}

impl StreamHandler<()> for TokenCache {
    fn handle(&mut self, _: (), _ctx: &mut Self::Context) {
        self.drain_control();
    }

    /// The bus closing is no reason to stop serving tokens.
    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

/// May this token call this provider? Does not count the request.
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

/// Counts one request against the token's lifetime quota, exactly.
#[derive(Message)]
#[rtype(result = "Result<(), ApiError>")]
pub struct Consume {
    pub token_id: Uuid,
    pub max_requests: Option<u64>,
    pub used: u64,
}

impl Handler<Consume> for TokenCache {
    type Result = Result<(), ApiError>;

    fn handle(&mut self, msg: Consume, _ctx: &mut Self::Context) -> Self::Result {
        self.consume(msg)
    }
}

/// Writes every counted request to the store; answers when done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushUsage;

impl Handler<FlushUsage> for TokenCache {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: FlushUsage, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flush_waiters.push(tx);
        self.flush(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
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

    pub async fn consume(&self, grant: &Grant) -> Result<(), ApiError> {
        self.addr
            .send(Consume {
                token_id: grant.token_id,
                max_requests: grant.max_requests,
                used: grant.used,
            })
            .await
            .map_err(|e| ApiError::internal(format!("token cache unavailable: {e}")))?
    }

    pub async fn flush(&self) {
        let _ = self.addr.send(FlushUsage).await;
    }

    pub fn addr(&self) -> &Addr<TokenCache> {
        &self.addr
    }
}
