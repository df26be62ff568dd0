//! Audit pages.

pub mod list;
pub mod show;
