//! The warm half of the token cache: entries, negative entries and the control-event
//! subscription behind one mutex, shared by the request path (hits, without a trip to the
//! actor) and the actor (misses, loads, invalidation).
//!
//! Every lookup first drains the control events, so a revocation published before a request
//! was sent is applied before that request is decided, whichever side answers it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::token::Token;
use llm_proxy_core::{ErrorCode, SecretString};
use llm_proxy_platform::settings::TokenCacheSettings;
use llm_proxy_platform::ApiError;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::admission::{self, Grant, Loaded, ProjectFacts};

pub(super) type Answer = Result<Grant, ApiError>;

pub(super) struct Entry {
    token: Token,
    project: ProjectFacts,
    keys: HashMap<String, Option<SecretString>>,
    expires: Instant,
}

pub(super) struct Warm {
    control: broadcast::Receiver<ControlEvent>,
    capacity: usize,
    ttl: Duration,
    negative_ttl: Duration,
    entries: HashMap<String, Entry>,
    by_token: HashMap<Uuid, String>,
    negative: HashMap<String, Instant>,
    /// Bumped by every control event; a load that started before a bump is not cached.
    generation: u64,
}

impl Warm {
    pub(super) fn new(
        control: broadcast::Receiver<ControlEvent>,
        settings: &TokenCacheSettings,
    ) -> Self {
        Self {
            control,
            capacity: settings.capacity.max(1),
            ttl: Duration::from_secs(settings.ttl_secs),
            negative_ttl: Duration::from_secs(settings.negative_ttl_secs),
            entries: HashMap::new(),
            by_token: HashMap::new(),
            negative: HashMap::new(),
            generation: 0,
        }
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    pub(super) fn drain_control(&mut self) {
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

    pub(super) fn apply(&mut self, event: &ControlEvent) {
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

    /// The answer for a warm token (or a recently unknown one); `None` when the store must be
    /// asked.
    pub(super) fn lookup(&mut self, hash: &str, provider: &str) -> Option<Answer> {
        self.drain_control();
        let now = Instant::now();
        if let Some(entry) = self.entries.get(hash) {
            if now < entry.expires && entry.keys.contains_key(provider) {
                return Some(admission::decide(
                    &entry.token,
                    entry.project,
                    &entry.keys,
                    provider,
                    Utc::now(),
                ));
            }
        }
        if self.negative.get(hash).is_some_and(|until| now < *until) {
            return Some(Err(ErrorCode::TokenNotFound.into()));
        }
        None
    }

    /// Caches what the store said and decides on it.
    pub(super) fn remember(
        &mut self,
        hash: String,
        loaded: Option<Loaded>,
        provider: &str,
    ) -> Answer {
        let now = Instant::now();
        let Some(loaded) = loaded else {
            self.remember_unknown(hash, now);
            return Err(ErrorCode::TokenNotFound.into());
        };
        let entry = self.insert(hash, loaded, now);
        admission::decide(
            &entry.token,
            entry.project,
            &entry.keys,
            provider,
            Utc::now(),
        )
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

/// [`Warm`] behind its mutex; the critical sections are a hash lookup and a decision.
#[derive(Clone)]
pub(super) struct SharedWarm(Arc<Mutex<Warm>>);

impl SharedWarm {
    pub(super) fn new(warm: Warm) -> Self {
        Self(Arc::new(Mutex::new(warm)))
    }

    /// A panic while holding the lock leaves nothing half-written that a lookup could trust
    /// less than a fresh one, so a poisoned lock is used as it is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Warm> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
