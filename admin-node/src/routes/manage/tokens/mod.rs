//! `/manage/tokens`.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod prunable;
pub mod prune;
pub mod update;
