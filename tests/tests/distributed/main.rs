//! The distributed deployment end to end (issue 5): one admin node, three proxy nodes behind
//! nginx, Postgres and a Redis of the test's own, every node the real `llm-proxy` binary.
#![allow(clippy::unwrap_used)]

mod node_kill;
mod quota;
mod rate;
mod redis_outage;
mod revocation;
