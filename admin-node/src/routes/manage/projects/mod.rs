//! `/manage/projects`.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod revoke_tokens;
pub mod update;
