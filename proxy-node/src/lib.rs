//! proxy-node: the data plane. Routes `/v1/*` and `/{provider}/*` to LLM providers, admits
//! withering tokens through the token cache actor and the `Admission` of `llm-proxy-limits`
//! (quotas and request rates), swaps in the project's key, streams the answer back untouched
//! and records one event per call, with its session's sequence number and lineage, through
//! the event log actor.
//!
//! For `llm-proxy up` (one App, one port): start a [`ProxyState`], register
//! [`configure_health`], the admin routes, then [`configure_proxy`] LAST, and call
//! [`ProxyState::shutdown`] after the server stopped.

pub mod actors;
pub mod admission;
pub mod budget;
pub mod cache;
pub mod connection;
pub mod credentials;
pub mod error;
pub mod events;
pub mod forward;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod provider;
pub mod redact;
pub mod request_id;
pub mod resilience;
pub mod routes;
pub mod routing;
pub mod session;
pub mod sse;
pub mod startup;
pub mod state;
pub mod usage;

pub use error::ProxyError;
pub use events::{EventSink, FileSink, SinkError};
pub use routes::{configure_health, configure_proxy};
pub use session::{DynSessionTracker, MemoryTracker, RedisTracker, SessionTracker};
pub use startup::Application;
pub use state::{ProxyParts, ProxyState};
