//! `GET /admin/usage` (charts, breakdowns) and `GET /admin/usage.csv` (the same window as CSV).

pub mod csv;
pub mod page;
mod query;
