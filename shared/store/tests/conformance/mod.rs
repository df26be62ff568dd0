//! The conformance suite: every test is written once against `DynStore` and run on each backend
//! by `tests/store_conformance.rs` (`sqlite::<name>`, `postgres::<name>`).

#![allow(clippy::unwrap_used)]

pub mod audit;
pub mod budgets;
pub mod harness;
pub mod projects;
pub mod tokens;
pub mod usage;

pub use harness::Harness;
