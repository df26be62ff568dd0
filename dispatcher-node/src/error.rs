//! The one error type of the dispatcher.

use llm_proxy_platform::redis::RedisConnectError;

#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    #[error("the dispatcher needs redis.url (events travel through Redis Streams)")]
    RedisNotConfigured,
    #[error(transparent)]
    Connect(#[from] RedisConnectError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unknown sink `{0}` (expected file, loki, lunary or helicone)")]
    UnknownSink(String),
    #[error("sink `{sink}`: {message}")]
    SinkSetup { sink: &'static str, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("delivery to `{sink}` failed: {source}")]
    Delivery {
        sink: &'static str,
        #[source]
        source: crate::sink::SinkError,
    },
    #[error("invalid replay start: {0}")]
    ReplayFrom(String),
}

impl DispatcherError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
