//! `llm-proxy dispatcher [status|replay]`: alone it runs the node; the subcommands read its
//! state from Redis (and its counters from its `/metrics`) or re-deliver entries.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use llm_proxy_platform::LoadOptions;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DispatcherArgs {
    #[command(subcommand)]
    pub command: Option<DispatcherCommand>,
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Debug, Subcommand)]
pub enum DispatcherCommand {
    /// Per sink: delivered, failed, retried, dead-lettered, pending and lag.
    Status(StatusArgs),
    /// Deliver entries again to one sink, from the event streams or from its dead-letter queue.
    Replay(ReplayArgs),
}

/// Where the settings come from; each flag maps onto a settings key.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// TOML configuration file (also `LLM_PROXY_CONFIG`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Redis holding the event streams (`redis.url`).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Data directory; the file sink writes under it (`data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Listen address of `/healthz`, `/readyz`, `/metrics` (`server.host`).
    #[arg(long)]
    pub host: Option<String>,
    /// Listen port (`server.port`).
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The dispatcher's metrics, for the delivered/failed/retried counters. Default: this
    /// configuration's server address, `/metrics` (the dispatcher role) or, without
    /// `redis.url`, `/metrics/dispatcher` (`llm-proxy up`).
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("start").required(true).args(["from", "since", "dlq"])))]
pub struct ReplayArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// file, loki, lunary or helicone (need not be enabled: a sink added later can backfill).
    #[arg(long)]
    pub sink: String,
    /// Stream entries from this id on (`1731400000000-0`).
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Stream entries added at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// The sink's dead-letter queue (delivered entries leave it).
    #[arg(long)]
    pub dlq: bool,
    /// Print JSON instead of a line.
    #[arg(long)]
    pub json: bool,
}

impl SettingsArgs {
    pub fn load_options(&self) -> LoadOptions {
        super::load_options(self.config.clone(), self.flags())
    }

    fn flags(&self) -> [(&'static str, Option<String>); 2] {
        [
            ("redis.url", self.redis_url.clone()),
            (
                "data_dir",
                self.data_dir.as_ref().map(|d| d.display().to_string()),
            ),
        ]
    }
}

impl NodeArgs {
    pub fn load_options(&self) -> LoadOptions {
        let [redis, data_dir] = self.settings.flags();
        super::load_options(
            self.settings.config.clone(),
            [
                redis,
                data_dir,
                ("server.host", self.host.clone()),
                ("server.port", self.port.map(|p| p.to_string())),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn dispatcher_alone_runs_the_node() {
        let cli = Cli::try_parse_from(["llm-proxy", "dispatcher", "--port", "9100"]).unwrap();
        let Command::Dispatcher(d) = cli.command else {
            panic!("not the dispatcher");
        };
        assert!(d.command.is_none());
        assert_eq!(d.node.port, Some(9100));
        assert!(Cli::try_parse_from(["llm-proxy", "dispatcher", "status", "--json"]).is_ok());
    }
}
