//! [`SessionBook`]: the embedded mode's session state (sequence counters and remembered
//! prefixes), bounded in sessions and in prefixes. Plain data; the session actor owns it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::chain::{Chain, PrefixHash};
use super::lineage::{self, Decision, Match, Placement, Tip, MAX_SESSION_PREFIXES};

/// Sessions remembered at most.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Prefix entries remembered over all sessions at most (about 40 bytes each).
pub const DEFAULT_PREFIX_BUDGET: usize = 1_000_000;

#[derive(Debug)]
pub struct SessionBook {
    sessions: HashMap<String, SessionState>,
    capacity: usize,
    prefix_budget: usize,
    ttl: Duration,
    /// Entries in every session's `last` and `tip` maps.
    prefixes: usize,
    /// Orders uses exactly (`Instant`s of two calls can be equal).
    clock: u64,
}

#[derive(Debug)]
struct SessionState {
    seq: u64,
    last_used: Instant,
    tick: u64,
    /// Prefix → the latest call whose conversation contained it.
    last: HashMap<PrefixHash, u64>,
    /// Prefix → the latest call whose whole conversation it was.
    tip: HashMap<PrefixHash, Tip>,
}

impl SessionState {
    fn new(now: Instant, tick: u64) -> Self {
        Self {
            seq: 0,
            last_used: now,
            tick,
            last: HashMap::new(),
            tip: HashMap::new(),
        }
    }

    fn entries(&self) -> usize {
        self.last.len() + self.tip.len()
    }

    /// Decides the call's lineage from the prefixes seen before, then remembers its own.
    fn observe(&mut self, chain: &Chain) -> Option<Decision> {
        let window = lineage::window(chain);
        let (full, proper) = window.split_last()?;
        let repeat = self.tip.get(full).copied();
        let found = proper.iter().enumerate().rev().find_map(|(index, hash)| {
            self.last.get(hash).map(|&last_seq| Match {
                index,
                last_seq,
                tip_seq: self.tip.get(hash).map(|t| t.seq),
            })
        });
        let decision = lineage::decide(chain, repeat, found);
        if self.last.len() + window.len() > MAX_SESSION_PREFIXES {
            self.last.clear();
            self.tip.clear();
        }
        for hash in window {
            self.last.insert(*hash, self.seq);
        }
        self.tip.insert(
            *full,
            Tip {
                seq: self.seq,
                lineage: decision.lineage,
                parent_seq: decision.parent_seq,
            },
        );
        Some(decision)
    }
}

impl Default for SessionBook {
    fn default() -> Self {
        Self::new(
            DEFAULT_CAPACITY,
            DEFAULT_PREFIX_BUDGET,
            Duration::from_secs(super::SESSION_TTL_SECS),
        )
    }
}

impl SessionBook {
    pub fn new(capacity: usize, prefix_budget: usize, ttl: Duration) -> Self {
        Self {
            sessions: HashMap::new(),
            capacity: capacity.max(1),
            prefix_budget: prefix_budget.max(1),
            ttl,
            prefixes: 0,
            clock: 0,
        }
    }

    /// Sessions currently remembered.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Prefix entries currently remembered.
    pub fn prefixes(&self) -> usize {
        self.prefixes
    }

    /// The next sequence number of `session_id` and, for a conversation, its lineage.
    pub fn place(&mut self, session_id: &str, chain: Option<&Chain>, now: Instant) -> Placement {
        self.clock += 1;
        let tick = self.clock;
        if !self.sessions.contains_key(session_id) && self.sessions.len() >= self.capacity {
            self.prune(now);
            if self.sessions.len() >= self.capacity {
                self.evict_least_recent((self.capacity / 8).max(1), None);
            }
        }
        let state = self
            .sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| SessionState::new(now, tick));
        let before = state.entries();
        if now.saturating_duration_since(state.last_used) >= self.ttl {
            *state = SessionState::new(now, tick);
        }
        state.seq += 1;
        state.last_used = now;
        state.tick = tick;
        let decision = chain.and_then(|c| state.observe(c));
        let placement = lineage::placement(state.seq, chain, decision);
        let after = state.entries();
        self.prefixes = (self.prefixes + after).saturating_sub(before);
        if self.prefixes > self.prefix_budget {
            let target = self.prefix_budget / 8 * 7;
            self.evict_until(target, session_id);
        }
        placement
    }

    /// Forgets sessions idle for the TTL.
    pub fn prune(&mut self, now: Instant) {
        let ttl = self.ttl;
        let mut freed = 0;
        self.sessions.retain(|_, s| {
            let keep = now.saturating_duration_since(s.last_used) < ttl;
            if !keep {
                freed += s.entries();
            }
            keep
        });
        self.prefixes = self.prefixes.saturating_sub(freed);
    }

    fn by_age(&self, except: Option<&str>) -> Vec<(u64, String)> {
        let mut by_age: Vec<(u64, String)> = self
            .sessions
            .iter()
            .filter(|(id, _)| Some(id.as_str()) != except)
            .map(|(id, s)| (s.tick, id.clone()))
            .collect();
        by_age.sort_unstable();
        by_age
    }

    fn remove(&mut self, id: &str) {
        if let Some(s) = self.sessions.remove(id) {
            self.prefixes = self.prefixes.saturating_sub(s.entries());
        }
    }

    fn evict_least_recent(&mut self, count: usize, except: Option<&str>) {
        for (_, id) in self.by_age(except).into_iter().take(count) {
            self.remove(&id);
        }
    }

    fn evict_until(&mut self, target: usize, except: &str) {
        for (_, id) in self.by_age(Some(except)) {
            if self.prefixes <= target {
                return;
            }
            self.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::session::chain::Conversation;
    use llm_proxy_core::event::Lineage;
    use serde_json::{json, Value};

    fn messages(texts: &[&str]) -> Value {
        let roles = ["user", "assistant"];
        let messages: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"role": roles[i % 2], "content": t}))
            .collect();
        json!({"model": "m", "messages": messages})
    }

    fn place(book: &mut SessionBook, id: &str, texts: &[&str]) -> Placement {
        let body = messages(texts);
        let chain = Conversation::read("/v1/chat/completions", Some(&body))
            .unwrap()
            .chain();
        book.place(id, Some(&chain), Instant::now())
    }

    fn summary(p: Placement) -> (u64, Option<Lineage>, Option<u64>) {
        (p.seq, p.lineage, p.parent_seq)
    }

    #[test]
    fn continuation_fork_and_new() {
        let mut book = SessionBook::default();
        let s = "s";
        assert_eq!(
            summary(place(&mut book, s, &["u1"])),
            (1, Some(Lineage::New), None)
        );
        let p = place(&mut book, s, &["u1", "a1", "u2"]);
        assert_eq!(summary(p), (2, Some(Lineage::Continuation), Some(1)));
        assert_eq!(p.shared_items, 1);
        assert_eq!(
            summary(place(&mut book, s, &["u1", "a1", "u2", "a2", "u3"])),
            (3, Some(Lineage::Continuation), Some(2))
        );
        // The user edits u2: shares [u1, a1], which no call sent whole.
        let p = place(&mut book, s, &["u1", "a1", "u2 edited"]);
        assert_eq!(summary(p), (4, Some(Lineage::Fork), Some(3)));
        assert_eq!(p.shared_items, 2);
        // A retried call is placed like the original.
        assert_eq!(
            summary(place(&mut book, s, &["u1", "a1", "u2 edited"])),
            (5, Some(Lineage::Fork), Some(3))
        );
        assert_eq!(
            summary(place(&mut book, s, &["u1"])),
            (6, Some(Lineage::New), None)
        );
        // Rewind to the first answer and ask something else.
        assert_eq!(
            summary(place(&mut book, s, &["u1", "a1", "other"])),
            (7, Some(Lineage::Fork), Some(5))
        );
        // Continuing the retried branch points at the retry.
        assert_eq!(
            summary(place(&mut book, s, &["u1", "a1", "u2 edited", "a", "u"])),
            (8, Some(Lineage::Continuation), Some(5))
        );
        // A subagent's own first call shares nothing.
        assert_eq!(
            summary(place(&mut book, s, &["subagent task"])),
            (9, Some(Lineage::New), None)
        );
    }

    #[test]
    fn sessions_never_share_state() {
        let mut book = SessionBook::default();
        place(&mut book, "a", &["same prompt"]);
        let b = place(&mut book, "b", &["same prompt", "x", "y"]);
        assert_eq!(summary(b), (1, Some(Lineage::New), None));
    }

    #[test]
    fn counts_without_a_conversation() {
        let mut book = SessionBook::default();
        let now = Instant::now();
        assert_eq!(book.place("a", None, now).seq, 1);
        assert_eq!(book.place("a", None, now).seq, 2);
        assert_eq!(book.place("b", None, now).seq, 1);
        assert_eq!(book.place("a", None, now).lineage, None);
    }

    #[test]
    fn stays_bounded_in_sessions_and_prefixes() {
        let mut book = SessionBook::new(16, 1_000, Duration::from_secs(60));
        place(&mut book, "busy", &["x"]);
        for i in 0..100 {
            place(&mut book, &format!("s{i}"), &["a", "b", "c", "d", "e"]);
            place(&mut book, "busy", &["x"]);
        }
        assert!(book.len() <= 16, "{}", book.len());
        assert_eq!(place(&mut book, "busy", &["x"]).seq, 102);

        let mut book = SessionBook::new(1_000, 40, Duration::from_secs(60));
        for i in 0..20 {
            place(&mut book, &format!("s{i}"), &["a", "b", "c", "d", "e"]);
        }
        assert!(book.prefixes() <= 40, "{}", book.prefixes());
    }

    #[test]
    fn an_idle_session_starts_over() {
        let mut book = SessionBook::new(16, 1_000, Duration::ZERO);
        assert_eq!(place(&mut book, "a", &["u1"]).seq, 1);
        let p = place(&mut book, "a", &["u1", "a1", "u2"]);
        assert_eq!(summary(p), (1, Some(Lineage::New), None));
        book.prune(Instant::now() + Duration::from_secs(1));
        assert!(book.is_empty());
        assert_eq!(book.prefixes(), 0);
    }
}
