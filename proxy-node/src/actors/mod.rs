//! The data plane's actors: the token cache, the usage writer and the event log.

pub mod event_log;
pub mod token_cache;
pub mod usage_writer;
