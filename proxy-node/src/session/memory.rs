//! [`MemorySequencer`]: embedded mode, one counter per session in this process, bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{SessionSequencer, SEQ_TTL_SECS};
use crate::error::ProxyError;

/// Sessions remembered at most; past it, idle ones go first, then the least recently used
/// eighth.
pub const DEFAULT_CAPACITY: usize = 100_000;

pub struct MemorySequencer {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Counter>,
    /// Orders uses exactly (`Instant`s of two calls can be equal).
    clock: u64,
}

struct Counter {
    seq: u64,
    last_used: Instant,
    tick: u64,
}

impl Default for MemorySequencer {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, Duration::from_secs(SEQ_TTL_SECS))
    }
}

impl MemorySequencer {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Sessions currently remembered.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_seq(&self, session_id: &str) -> u64 {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        if !inner.sessions.contains_key(session_id) && inner.sessions.len() >= self.capacity {
            make_room(&mut inner.sessions, self.capacity, self.ttl, now);
        }
        let counter = inner
            .sessions
            .entry(session_id.to_owned())
            .or_insert(Counter {
                seq: 0,
                last_used: now,
                tick,
            });
        if now.saturating_duration_since(counter.last_used) >= self.ttl {
            counter.seq = 0;
        }
        counter.seq += 1;
        counter.last_used = now;
        counter.tick = tick;
        counter.seq
    }
}

fn make_room(
    sessions: &mut HashMap<String, Counter>,
    capacity: usize,
    ttl: Duration,
    now: Instant,
) {
    sessions.retain(|_, c| now.saturating_duration_since(c.last_used) < ttl);
    if sessions.len() < capacity {
        return;
    }
    let mut by_age: Vec<(u64, String)> = sessions
        .iter()
        .map(|(id, c)| (c.tick, id.clone()))
        .collect();
    by_age.sort_unstable();
    for (_, id) in by_age.into_iter().take((capacity / 8).max(1)) {
        sessions.remove(&id);
    }
}

#[async_trait]
impl SessionSequencer for MemorySequencer {
    async fn next(&self, session_id: &str) -> Result<u64, ProxyError> {
        Ok(self.next_seq(session_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_session() {
        let s = MemorySequencer::default();
        assert_eq!(s.next_seq("a"), 1);
        assert_eq!(s.next_seq("a"), 2);
        assert_eq!(s.next_seq("b"), 1);
        assert_eq!(s.next_seq("a"), 3);
    }

    #[test]
    fn stays_bounded_and_keeps_recent_sessions() {
        let s = MemorySequencer::new(16, Duration::from_secs(60));
        s.next_seq("busy");
        for i in 0..100 {
            s.next_seq(&format!("s{i}"));
            s.next_seq("busy");
        }
        assert!(s.len() <= 16, "{}", s.len());
        assert_eq!(s.next_seq("busy"), 102);
    }

    #[test]
    fn an_idle_session_starts_over() {
        let s = MemorySequencer::new(16, Duration::ZERO);
        assert_eq!(s.next_seq("a"), 1);
        assert_eq!(s.next_seq("a"), 1);
    }
}
