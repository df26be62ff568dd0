//! The admin UI's building blocks: server-side sessions, the extractors that enforce login and
//! CSRF, the page layout and small view helpers. Handlers live in `crate::routes::admin`.

pub mod chart;
pub mod extract;
pub mod layout;
pub mod session;
pub mod usage_charts;
pub mod views;

pub use extract::{UiError, UiForm, UiSession};

/// The stylesheet, served at `/admin/static/admin.css`.
pub const STYLESHEET: &str = include_str!("admin.css");

/// The one script (copy buttons, confirmations), served at `/admin/static/admin.js`.
pub const SCRIPT: &str = include_str!("admin.js");
