//! Integration tests of the proxy node: the real app on a random port, a fresh SQLite file per
//! test, and a fake upstream that records what it received.

#![allow(clippy::unwrap_used)]

mod admission;
mod chat;
mod errors;
mod events;
mod health;
mod helpers;
mod streaming;
