//! The event pipeline end to end (issue 6): a proxy node publishes to a Redis of the test's own,
//! `llm-proxy dispatcher` processes deliver to the file sink and fake Loki, Lunary and
//! Helicone; crashes and outages lose nothing.
#![allow(clippy::unwrap_used)]

mod dispatcher_kill;
mod end_to_end;
mod fields;
mod redis_outage;
mod sink_outage;
mod spill_full;
