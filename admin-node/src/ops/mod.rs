//! The use cases behind both the management API and the admin UI: validate, one store call (with
//! its audit row in the same transaction), then, after the commit, the control event that makes
//! every token cache evict.

pub mod housekeeping;
pub mod projects;
pub mod tokens;
