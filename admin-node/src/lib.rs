//! admin-node: the control plane. The management API under `/manage`, the admin UI under
//! `/admin`, the audit log, and the sweep that expires withering tokens.
//!
//! For `llm-proxy up` (one App, one port): start an [`AdminState`] inside an actix `System`,
//! register [`configure_admin`] before the proxy's catch-all routes. Standalone, [`Application`]
//! adds [`configure_health`] and binds `server.host:server.port`.
//!
//! Every mutation, from the API or the UI, goes through [`ops`]: one store call (which writes its
//! audit row in the same transaction) followed, after the commit, by a control event on the
//! [`llm_proxy_platform::ControlBus`] so every token cache evicts at once.

pub mod actors;
pub mod auth;
pub mod context;
pub mod error;
pub mod metrics;
pub mod ops;
pub mod routes;
pub mod startup;
pub mod state;
pub mod ui;
pub mod validate;

pub use error::AdminError;
pub use routes::{configure_admin, configure_health, MANAGEMENT_ROUTES};
pub use startup::Application;
pub use state::AdminState;
