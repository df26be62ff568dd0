//! Token pages.

pub mod create;
pub mod list;
pub mod revoke;
