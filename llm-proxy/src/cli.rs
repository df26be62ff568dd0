//! Command-line shape. Flags are the last settings layer (DESIGN §9).

pub mod manage;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use llm_proxy_platform::LoadOptions;

#[derive(Debug, Parser)]
#[command(
    name = "llm-proxy",
    version,
    about = "An LLM API gateway with withering tokens"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: proxy, management API and admin UI on one port,
    /// SQLite store and in-process event queue under the data directory.
    Up(ServeArgs),
    /// Run a proxy node (the data plane).
    Proxy(ServeArgs),
    /// Run an admin node (management API and admin UI); migrates at start unless told not to.
    Admin(ServeArgs),
    /// Run the database migrations and exit.
    Migrate(ServeArgs),
    /// Manage projects through the management API.
    Project {
        #[command(flatten)]
        client: manage::ClientOptions,
        #[command(subcommand)]
        command: manage::ProjectCommand,
    },
    /// Manage withering tokens through the management API.
    Token {
        #[command(flatten)]
        client: manage::ClientOptions,
        #[command(subcommand)]
        command: manage::TokenCommand,
    },
    /// Read the audit log through the management API.
    Audit {
        #[command(flatten)]
        client: manage::ClientOptions,
        #[command(subcommand)]
        command: manage::AuditCommand,
    },
}

/// Flags shared by the server roles; each maps onto a settings key.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML configuration file (also `LLM_PROXY_CONFIG`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address (`server.host`).
    #[arg(long)]
    pub host: Option<String>,
    /// Listen port (`server.port`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Data directory for the embedded store, keys and event files (`data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:<path>` or `postgres://…` (`database.url`).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Skip migrations at start (`database.migrate_on_start = false`).
    #[arg(long)]
    pub no_migrate: bool,
}

impl ServeArgs {
    pub fn load_options(&self) -> LoadOptions {
        let mut overrides = Vec::new();
        if let Some(host) = &self.host {
            overrides.push(("server.host".to_owned(), host.clone()));
        }
        if let Some(port) = self.port {
            overrides.push(("server.port".to_owned(), port.to_string()));
        }
        if let Some(dir) = &self.data_dir {
            overrides.push(("data_dir".to_owned(), dir.display().to_string()));
        }
        if let Some(url) = &self.database_url {
            overrides.push(("database.url".to_owned(), url.clone()));
        }
        if self.no_migrate {
            overrides.push(("database.migrate_on_start".to_owned(), "false".to_owned()));
        }
        LoadOptions {
            config_file: self.config.clone(),
            overrides,
            env: None,
        }
    }
}
