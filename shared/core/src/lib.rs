//! Domain types of llm-proxy and the contracts between nodes. No IO lives here.

pub mod audit;
pub mod budget;
pub mod control;
pub mod error_code;
pub mod event;
pub mod project;
pub mod secret;
pub mod token;
pub mod token_secret;
pub mod usage_cost;

pub use error_code::ErrorCode;
pub use secret::SecretString;
