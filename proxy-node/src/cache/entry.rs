//! What the cache stores: an answer (status, headers, body and what the event needs), or the
//! `Vary` names of a key whose answers are stored per variant.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Unix milliseconds.
    pub stored_at_ms: i64,
    pub ttl_secs: u64,
    /// An event stream, replayed as `text/event-stream`.
    pub stream: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Answer { meta: Meta, body: Bytes },
    Vary(Vec<String>),
}

impl Item {
    /// Bytes it occupies, roughly (for the memory budget).
    pub fn size(&self) -> usize {
        match self {
            Item::Answer { meta, body } => {
                body.len()
                    + 64
                    + meta
                        .headers
                        .iter()
                        .map(|(n, v)| n.len() + v.len() + 16)
                        .sum::<usize>()
            }
            Item::Vary(names) => 32 + names.iter().map(String::len).sum::<usize>(),
        }
    }
}

impl Meta {
    /// Seconds this answer is still fresh at `now_ms`.
    pub fn remaining_secs(&self, now_ms: i64) -> u64 {
        let age = (now_ms - self.stored_at_ms).max(0) as u64 / 1000;
        self.ttl_secs.saturating_sub(age)
    }

    pub fn age_secs(&self, now_ms: i64) -> u64 {
        (now_ms - self.stored_at_ms).max(0) as u64 / 1000
    }
}
