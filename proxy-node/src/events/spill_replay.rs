//! The background task that empties the spill into Redis, oldest first. A chunk is marked
//! published only after Redis confirmed it, so a crash mid-replay repeats at most one chunk
//! (at-least-once; dispatchers dedupe by event id).

use std::sync::Arc;
use std::time::Duration;

use llm_proxy_core::event::RequestEvent;

use super::redis_stream::{spill_error, with_gate, Shared};
use super::stream_publisher::PublishFailure;
use super::SinkError;

const CHUNK_LINES: usize = 1000;
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

enum Step {
    Drained,
    Replayed,
}

enum Failure {
    Unavailable(String),
    Spill(SinkError),
}

impl From<SinkError> for Failure {
    fn from(e: SinkError) -> Self {
        Self::Spill(e)
    }
}

pub(super) async fn run(shared: Arc<Shared>) {
    // Halved after a failure, so a chunk too big for the timeout cannot stall the replay.
    let mut chunk_lines = CHUNK_LINES;
    let mut delay = RETRY_MIN;
    loop {
        match replay_chunk(&shared, chunk_lines).await {
            Ok(Step::Drained) => {
                delay = RETRY_MIN;
                shared.wake.notified().await;
                continue;
            }
            Ok(Step::Replayed) => {
                delay = RETRY_MIN;
                chunk_lines = (chunk_lines * 2).min(CHUNK_LINES);
                continue;
            }
            Err(Failure::Unavailable(error)) => {
                tracing::debug!(%error, "spill replay waits for Redis");
                chunk_lines = (chunk_lines / 2).max(1);
            }
            Err(Failure::Spill(error)) => {
                tracing::error!(%error, "cannot replay the event spill; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// Reads the oldest chunk, publishes it and marks it published. The spill is not held while
/// publishing: batches arriving meanwhile are appended behind the chunk, and none is published
/// directly until the spill is empty, which only the commit can make it.
async fn replay_chunk(shared: &Shared, chunk_lines: usize) -> Result<Step, Failure> {
    let gate = Arc::clone(&shared.gate).lock_owned().await;
    if gate.spill.is_empty() {
        return Ok(Step::Drained);
    }
    let (gate, read) = with_gate(gate, move |gate| {
        let read = gate.spill.read_chunk(chunk_lines, CHUNK_BYTES);
        read.map_err(|e| spill_error(gate.spill.dir(), e))
    })
    .await?;
    drop(gate);
    let (lines, end) = read?;
    let mut events = Vec::with_capacity(lines.len());
    let mut unreadable = 0;
    for line in &lines {
        match serde_json::from_slice::<RequestEvent>(line) {
            Ok(event) => events.push(event),
            Err(_) => unreadable += 1,
        }
    }
    let counters = &shared.counters;
    if !events.is_empty() {
        match shared
            .publisher
            .publish(&events, shared.replay_timeout)
            .await
        {
            Ok(()) => {}
            Err(PublishFailure::Unavailable(error)) => {
                counters.set_redis_available(false);
                return Err(Failure::Unavailable(error));
            }
            Err(PublishFailure::Encode(error)) => {
                tracing::error!(%error, count = events.len(), "cannot encode spilled events; dropped");
                unreadable += events.len();
                events.clear();
            }
        }
    }
    let gate = Arc::clone(&shared.gate).lock_owned().await;
    let (gate, committed) = with_gate(gate, move |gate| {
        let committed = gate.spill.commit(end);
        committed.map_err(|e| spill_error(gate.spill.dir(), e))
    })
    .await?;
    committed?;
    counters.set_spill_bytes(gate.spill.disk_bytes(), gate.spill.pending_bytes());
    counters.add_replayed(events.len());
    if unreadable > 0 {
        counters.add_dropped(unreadable);
        tracing::warn!(
            dropped = unreadable,
            "unreadable lines in the event spill were dropped"
        );
    }
    if !counters.set_redis_available(true) {
        tracing::info!("Redis is back: replaying the event spill");
    }
    if gate.spill.is_empty() {
        tracing::info!(
            replayed = counters.snapshot().replayed,
            "event spill replayed; publishing directly again"
        );
    }
    Ok(Step::Replayed)
}
