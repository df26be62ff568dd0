//! Command-line shape. Flags are the last settings layer (DESIGN §9).

pub mod dispatcher;
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
    /// Run everything in one process: proxy, management API and admin UI on one port, SQLite
    /// store under the data directory, events through the in-process dispatcher (the file sink
    /// under `<data dir>/events` unless other sinks are configured) and into the usage ledger.
    Up(ServeArgs),
    /// Run a proxy node (the data plane).
    Proxy(ServeArgs),
    /// Run a dispatcher node (Redis Streams to the sinks), or inspect and replay deliveries.
    Dispatcher(dispatcher::DispatcherArgs),
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
    /// Purge the response cache through the management API.
    Cache {
        #[command(flatten)]
        client: manage::ClientOptions,
        #[command(subcommand)]
        command: manage::CacheCommand,
    },
    /// Requests, tokens and cost from the usage ledger, per day or hour, through the
    /// management API.
    Usage {
        #[command(flatten)]
        client: manage::ClientOptions,
        #[command(flatten)]
        args: manage::UsageArgs,
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
        load_options(
            self.config.clone(),
            [
                ("server.host", self.host.clone()),
                ("server.port", self.port.map(|p| p.to_string())),
                (
                    "data_dir",
                    self.data_dir.as_ref().map(|d| d.display().to_string()),
                ),
                ("database.url", self.database_url.clone()),
                (
                    "database.migrate_on_start",
                    self.no_migrate.then(|| "false".to_owned()),
                ),
            ],
        )
    }
}

/// The config file plus the flags that were given, as settings overrides.
pub fn load_options<const N: usize>(
    config_file: Option<PathBuf>,
    flags: [(&str, Option<String>); N],
) -> LoadOptions {
    LoadOptions {
        config_file,
        overrides: flags
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v)))
            .collect(),
        env: None,
    }
}
