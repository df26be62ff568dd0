//! Distributed mode: one Lua script per request on Redis (see [`RedisAdmission`]).

mod admission;
mod keys;
mod per_thread;

pub use admission::{RedisAdmission, WINDOW_TRIM_PER_CALL};
pub use keys::{LimitKeys, ScopeKeys};
