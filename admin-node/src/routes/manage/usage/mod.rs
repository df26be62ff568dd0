//! The usage ledger over the management API: `GET /manage/usage` (JSON report) and
//! `GET /manage/usage/export` (CSV). The admin UI's usage pages reuse the same query and
//! report code.

pub mod export;
pub mod get;
pub mod query;
pub mod report;

pub use query::{UsageParams, UsageQuery};
pub use report::Totals;
