//! Management CLI: `llm-proxy project|token|audit …` against the management API (awc).
//!
//! `--url` / `LLM_PROXY_MANAGEMENT_URL` (default `http://127.0.0.1:8080`), the token from
//! `--token` / `LLM_PROXY_MANAGEMENT_TOKEN`; human tables by default, `--json` prints the API's
//! JSON for scripts. Every failure is one line, returned as `Err(String)`.

mod audit;
mod cache;
mod client;
pub(crate) mod output;
mod project;
mod prune;
mod token;
mod usage;

use clap::Args;

pub use audit::{run_audit, AuditCommand};
pub use cache::{run_cache, CacheCommand};
pub use project::{run_project, ProjectCommand};
pub use token::{run_token, TokenCommand};
pub use usage::{run_usage, UsageArgs};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// How to reach the management API.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// Base URL of the admin node (or `llm-proxy up`).
    #[arg(long, global = true, env = "LLM_PROXY_MANAGEMENT_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Management token (prefer the environment variable: flags show up in `ps`).
    #[arg(
        long,
        global = true,
        env = "LLM_PROXY_MANAGEMENT_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}
