//! dispatcher-node: reads the event streams with one consumer group per sink and delivers to
//! file, Grafana Loki, Lunary and Helicone (DESIGN §5). At-least-once: an entry is
//! acknowledged only after its sink confirmed it; idle entries of a crashed dispatcher are
//! taken over; what can never be delivered goes to `{prefix}:events:dlq:{sink}`.
//!
//! - [`Application`]: the `dispatcher` role (Redis Streams, HTTP health and metrics).
//! - [`InProcessDispatcher`]: embedded mode (`llm-proxy up`), the same sinks behind bounded
//!   in-process queues; request handlers hold an [`EventSender`].
//! - [`status()`] and [`replay()`]: the `llm-proxy dispatcher status|replay` commands.

pub mod consumer;
pub mod delivery;
pub mod dispatcher;
pub mod error;
pub mod inprocess;
pub mod metrics;
pub mod replay;
pub mod routes;
pub mod sink;
mod sink_thread;
pub mod startup;
pub mod status;

pub use dispatcher::RedisDispatcher;
pub use error::DispatcherError;
pub use inprocess::{EventSender, InProcessConfig, InProcessDispatcher};
pub use metrics::Metrics;
pub use replay::{replay, replay_to, ReplayFrom, ReplayReport};
pub use routes::{configure, DispatcherState};
pub use sink::{SharedEvent, Sink, SinkError, SinkSpec};
pub use startup::Application;
pub use status::{status, SinkStatus, StatusReport};
