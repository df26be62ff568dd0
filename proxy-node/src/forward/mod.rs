//! Forwarding to the upstream with awc: per-worker clients, header rewriting, the request body
//! limit, the first-byte timeout, breaker and retries, and the streamed response body.

pub mod attempt;
pub mod body;
pub mod client;
pub mod headers;
pub mod response;
pub mod reuse;
pub mod send;
