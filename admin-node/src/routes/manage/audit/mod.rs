//! `/manage/audit`.

pub mod get;
pub mod list;
