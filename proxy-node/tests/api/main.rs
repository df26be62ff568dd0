//! Integration tests of the proxy node: the real app on a random port, a fresh SQLite file per
//! test (Redis tests: a key prefix of their own on the shared Redis), and a fake upstream that
//! records what it received.

#![allow(clippy::unwrap_used)]

mod admission;
mod budget;
mod cache;
mod chat;
mod connection_layer;
mod errors;
mod events;
mod fixtures;
mod health;
mod helpers;
mod hostile;
mod limits;
mod pooled_connections;
mod providers_anthropic;
mod providers_passthrough;
mod resilience;
mod sessions;
mod sessions_agents;
mod sessions_fleet;
mod streaming;
mod usage_injection;
