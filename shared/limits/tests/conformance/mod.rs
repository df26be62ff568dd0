//! The conformance suite: every test is written once against [`Harness`] and run on each
//! implementation by `tests/limits_conformance.rs`.

#![allow(clippy::unwrap_used)]

pub mod budget;
pub mod harness;
pub mod order;
pub mod quota;
pub mod rate;
pub mod usage;

pub use harness::Harness;
