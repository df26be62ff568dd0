//! Offline checks of the deployment files (Dockerfile, compose, Helm chart, ECS, Grafana).
//! The library holds the readers and the Go-template renderer; `tests/deploy` holds the checks.

pub mod compose;
pub mod dockerfile;
pub mod dockerignore;
pub mod env_names;
mod error;
pub mod files;
pub mod gotmpl;
pub mod helm;
pub mod metrics;

pub use error::CheckError;
