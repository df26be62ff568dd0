//! Where request events go once the logging actor has batched them. The embedded path writes
//! daily JSONL files; the Redis Streams path implements the same trait.

mod exchange;
mod file_sink;
mod redis_stream;
mod sink_stats;
mod spill_replay;
mod stream_publisher;

use async_trait::async_trait;
use llm_proxy_core::event::RequestEvent;

pub use exchange::{Exchange, Outcome};
pub use file_sink::FileSink;
pub use redis_stream::{RedisSinkOptions, RedisStreamSink};
pub use sink_stats::{RedisSinkCounters, RedisSinkStats};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write events to {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("event sink task failed: {0}")]
    Task(String),
}

/// What became of a batch a sink accepted: the events it had to give up on (a full spill)
/// rather than failing the whole batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub dropped: usize,
}

/// A durable destination for batches of events. `write_batch` returns only once the batch is
/// durable (file: fsynced), so the caller may count it written, less `BatchOutcome::dropped`.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError>;
    fn name(&self) -> &'static str;
}

/// Sink for `events.enabled = false`: accepts and forgets.
#[derive(Debug, Default)]
pub struct NullSink;

#[async_trait]
impl EventSink for NullSink {
    async fn write_batch(&self, _events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        Ok(BatchOutcome::default())
    }

    fn name(&self) -> &'static str {
        "null"
    }
}
