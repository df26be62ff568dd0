//! `llm-proxy up` feeds the store's usage ledger (what `GET /manage/usage`, the dashboard and
//! budgets read) through the dispatcher's `usage` sink, the same code the dispatcher role runs
//! from its consumer group: its own bounded queue, the dispatcher's retries and DLQ file, and
//! idempotent per event id in the store.

use dispatcher_node::sink::{usage, UsageSink};
use dispatcher_node::{Sink, SinkSpec};
use llm_proxy_platform::Settings;
use llm_proxy_store::DynStore;

pub const NAME: &str = usage::NAME;

/// The sink over the already open store, built on the dispatcher's arbiter thread like the
/// others, but never at idle priority: budgets are enforced from this ledger.
pub fn spec(store: DynStore, settings: &Settings) -> SinkSpec {
    let sink = UsageSink::new(store, settings);
    SinkSpec::new(NAME, move || Ok(Box::new(sink) as Box<dyn Sink>)).keeping_priority()
}
