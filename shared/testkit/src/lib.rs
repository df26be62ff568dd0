//! Test-only helpers (dev-dependency only): isolated Postgres databases and Redis prefixes,
//! and fake third parties (LLM upstreams) that check the vendor's wire format.

pub mod db;
pub mod fake_sinks;
pub mod fake_upstream;
pub mod redis_prefix;
pub mod redis_server;
