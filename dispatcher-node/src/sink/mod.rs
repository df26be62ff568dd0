//! Sinks: where events are delivered. One [`Sink`] trait serves both the Redis consumer loop
//! and the in-process (embedded) dispatcher.

mod file;
mod file_layout;
mod file_lines;
mod helicone;
mod http;
mod loki;
mod lunary;
pub(crate) mod recent;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::Settings;

pub use file::FileSink;
pub use file_layout::{daily_file, session_file, session_lines, session_start_line};
pub use file_lines::{write_session_lines, write_session_start};
pub use helicone::{helicone_log, HeliconeSink};
pub use loki::{loki_push, LokiSink};
pub use lunary::{lunary_events, LunarySink};
pub use usage::UsageSink;

use crate::error::DispatcherError;

/// Events are shared, not copied, between the sinks of one dispatcher.
pub type SharedEvent = Arc<RequestEvent>;

/// Every sink name, in a fixed order.
pub const SINK_NAMES: [&str; 5] = ["file", "loki", "lunary", "helicone", "usage"];

/// Why a delivery failed, and so what the dispatcher does next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// Try again later (connection error, timeout, 429, 5xx, a 200 that reports an error).
    /// Counts as one failed delivery of every entry in the batch.
    #[error("{message}")]
    Retryable {
        message: String,
        /// The server said when (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Will never succeed as sent (a 4xx, a payload the sink cannot take): dead-letter now.
    #[error("{message}")]
    Permanent { message: String },
    /// Some entries (indices into the batch) were rejected for good; the others were
    /// delivered.
    #[error("{message}")]
    Partial {
        rejected: Vec<usize>,
        message: String,
    },
}

impl SinkError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
        }
    }
}

/// A destination for events. `deliver` returns `Ok` only once the whole batch is durable at
/// the sink (file: fsynced; HTTP: accepted), so the caller may acknowledge it.
///
/// Sinks may hold `!Send` state (awc clients): each one is built and driven on its own
/// arbiter thread, through a [`SinkFactory`].
#[async_trait(?Send)]
pub trait Sink {
    fn name(&self) -> &'static str;
    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError>;
}

/// Builds a sink on the thread that will drive it.
pub type SinkFactory = Box<dyn FnOnce() -> Result<Box<dyn Sink>, DispatcherError> + Send + 'static>;

/// A named factory.
pub struct SinkSpec {
    pub name: &'static str,
    pub factory: SinkFactory,
    /// Runs at the request workers' priority even when `dispatcher.sink_scheduling` lowers the
    /// sinks: records that limits are enforced from (the usage ledger behind budgets) must not
    /// starve, and so spill and drop, while the gateway is busy.
    pub keeps_priority: bool,
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSpec")
            .field("name", &self.name)
            .finish()
    }
}

impl SinkSpec {
    pub fn new<F>(name: &'static str, factory: F) -> Self
    where
        F: FnOnce() -> Result<Box<dyn Sink>, DispatcherError> + Send + 'static,
    {
        Self {
            name,
            factory: Box::new(factory),
            keeps_priority: false,
        }
    }

    /// See [`SinkSpec::keeps_priority`].
    pub fn keeping_priority(mut self) -> Self {
        self.keeps_priority = true;
        self
    }
}

/// The factory of one sink by name, from settings (whether or not it is enabled).
pub fn sink_spec(settings: &Arc<Settings>, name: &str) -> Result<SinkSpec, DispatcherError> {
    let s = settings.clone();
    Ok(match name {
        "file" => SinkSpec::new("file", move || {
            Ok(Box::new(FileSink::from_settings(&s)?) as Box<dyn Sink>)
        }),
        "loki" => SinkSpec::new("loki", move || {
            Ok(Box::new(LokiSink::new(s.sinks.loki.clone())) as Box<dyn Sink>)
        }),
        "lunary" => SinkSpec::new("lunary", move || {
            Ok(Box::new(LunarySink::new(s.sinks.lunary.clone())?) as Box<dyn Sink>)
        }),
        "helicone" => SinkSpec::new("helicone", move || {
            Ok(Box::new(HeliconeSink::new(s.sinks.helicone.clone())?) as Box<dyn Sink>)
        }),
        "usage" => SinkSpec::new("usage", move || {
            Ok(Box::new(UsageSink::from_settings(s)) as Box<dyn Sink>)
        })
        .keeping_priority(),
        other => return Err(DispatcherError::UnknownSink(other.to_owned())),
    })
}

/// Factories of every enabled sink.
pub fn enabled_sinks(settings: &Arc<Settings>) -> Result<Vec<SinkSpec>, DispatcherError> {
    settings
        .sinks
        .enabled()
        .into_iter()
        .map(|name| sink_spec(settings, name))
        .collect()
}

/// Checks a sink name (for the CLI).
pub fn static_name(name: &str) -> Result<&'static str, DispatcherError> {
    SINK_NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| DispatcherError::UnknownSink(name.to_owned()))
}
