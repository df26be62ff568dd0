//! The data plane's actors: the token cache and the event log.

pub mod event_log;
pub mod token_cache;
