//! Requests this node admitted, per token, waiting for the batched write-back to the store.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use llm_proxy_core::token::TokenUsage;
use uuid::Uuid;

#[derive(Debug, Default)]
pub(crate) struct UsageLedger {
    pending: Mutex<HashMap<Uuid, (u64, DateTime<Utc>)>>,
}

impl UsageLedger {
    pub fn record(&self, token_id: Uuid) {
        let now = Utc::now();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(token_id).or_insert((0, now));
        entry.0 += 1;
        entry.1 = entry.1.max(now);
    }

    pub fn drain(&self) -> Vec<TokenUsage> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        taken
            .into_iter()
            .map(|(token_id, (requests, last_used_at))| TokenUsage {
                token_id,
                requests,
                last_used_at,
            })
            .collect()
    }
}

/// Adds up two drains (a request is admitted by exactly one implementation, so nothing is
/// counted twice).
pub(crate) fn merge(a: Vec<TokenUsage>, b: Vec<TokenUsage>) -> Vec<TokenUsage> {
    if b.is_empty() {
        return a;
    }
    let mut by_token: HashMap<Uuid, TokenUsage> = HashMap::with_capacity(a.len() + b.len());
    for usage in a.into_iter().chain(b) {
        match by_token.entry(usage.token_id) {
            Entry::Occupied(mut existing) => {
                let existing = existing.get_mut();
                existing.requests += usage.requests;
                existing.last_used_at = existing.last_used_at.max(usage.last_used_at);
            }
            Entry::Vacant(slot) => {
                slot.insert(usage);
            }
        }
    }
    by_token.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_drain_and_merge() {
        let ledger = UsageLedger::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        ledger.record(a);
        ledger.record(a);
        ledger.record(b);
        let drained = ledger.drain();
        assert_eq!(drained.len(), 2);
        assert!(ledger.drain().is_empty());

        let other = UsageLedger::default();
        other.record(a);
        let merged = merge(drained, other.drain());
        let count = |id| merged.iter().find(|u| u.token_id == id).map(|u| u.requests);
        assert_eq!(count(a), Some(3));
        assert_eq!(count(b), Some(1));
    }
}
