//! `llm-proxy`: one binary for every role. `up` runs the whole gateway in one process on the
//! embedded backends; `proxy`, `dispatcher`, `admin` run one role; `migrate` runs migrations;
//! `project`, `token`, `audit`, `usage` talk to the management API.

mod bootstrap;
mod cli;
mod commands;
mod dispatcher_metrics;
mod events_bridge;
mod one_line;
mod server;
mod usage_ledger;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => commands::up::run(args),
        Command::Proxy(args) => commands::role::run_proxy(args),
        Command::Dispatcher(args) => commands::dispatcher::run(args),
        Command::Admin(args) => commands::role::run_admin(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Project { client, command } => {
            commands::client::run(|| cli::manage::run_project(command, &client))
        }
        Command::Token { client, command } => {
            commands::client::run(|| cli::manage::run_token(command, &client))
        }
        Command::Audit { client, command } => {
            commands::client::run(|| cli::manage::run_audit(command, &client))
        }
        Command::Cache { client, command } => {
            commands::client::run(|| cli::manage::run_cache(command, &client))
        }
        Command::Usage { client, args } => {
            commands::client::run(|| cli::manage::run_usage(args, &client))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("llm-proxy: error: {}", one_line::one_line(&message));
            ExitCode::FAILURE
        }
    }
}
