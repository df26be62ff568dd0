//! Counters of the Redis Streams sink, cheap to read at every `/metrics` scrape.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Live counters; share the `Arc` from `RedisStreamSink::counters` and call [`Self::snapshot`].
#[derive(Debug, Default)]
pub struct RedisSinkCounters {
    published: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    spill_bytes: AtomicU64,
    spill_pending_bytes: AtomicU64,
    redis_unavailable: AtomicBool,
}

/// A point-in-time copy of [`RedisSinkCounters`]. Event counts are totals since start; the
/// byte counts and `redis_available` are gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisSinkStats {
    /// Events added to the stream directly by `write_batch`.
    pub published: u64,
    /// Events written to the spill because Redis was slow, down, or still being caught up on.
    pub spilled: u64,
    /// Spilled events since added to the stream.
    pub replayed: u64,
    /// Events lost: the spill was full, or a spilled line could not be read back.
    pub dropped: u64,
    /// Bytes of the spill on disk (what `events.spill_max_bytes` caps).
    pub spill_bytes: u64,
    /// Bytes of the spill not yet replayed; 0 means batches go straight to Redis.
    pub spill_pending_bytes: u64,
    /// The last attempt to reach Redis succeeded.
    pub redis_available: bool,
}

impl RedisSinkCounters {
    pub fn snapshot(&self) -> RedisSinkStats {
        RedisSinkStats {
            published: self.published.load(Ordering::Relaxed),
            spilled: self.spilled.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            spill_bytes: self.spill_bytes.load(Ordering::Relaxed),
            spill_pending_bytes: self.spill_pending_bytes.load(Ordering::Relaxed),
            redis_available: !self.redis_unavailable.load(Ordering::Relaxed),
        }
    }

    pub(super) fn add_published(&self, n: usize) {
        self.published.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn add_spilled(&self, n: usize) {
        self.spilled.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn add_replayed(&self, n: usize) {
        self.replayed.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn add_dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn set_spill_bytes(&self, on_disk: u64, pending: u64) {
        self.spill_bytes.store(on_disk, Ordering::Relaxed);
        self.spill_pending_bytes.store(pending, Ordering::Relaxed);
    }

    /// Records whether Redis answered; returns the previous state.
    pub(super) fn set_redis_available(&self, available: bool) -> bool {
        !self.redis_unavailable.swap(!available, Ordering::Relaxed)
    }
}
