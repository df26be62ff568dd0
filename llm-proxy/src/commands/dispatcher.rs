//! `llm-proxy dispatcher`: the dispatcher role (Redis Streams to the sinks), and its `status`
//! and `replay` subcommands.

mod counters;
mod replay;
mod status;

use dispatcher_node::Application;

use crate::bootstrap;
use crate::cli::dispatcher::{DispatcherArgs, DispatcherCommand, NodeArgs};

pub fn run(args: DispatcherArgs) -> Result<(), String> {
    match args.command {
        None => run_dispatcher(args.node),
        Some(DispatcherCommand::Status(args)) => status::run(args),
        Some(DispatcherCommand::Replay(args)) => replay::run(args),
    }
}

pub fn run_dispatcher(args: NodeArgs) -> Result<(), String> {
    let settings = bootstrap::load(args.load_options())?;
    actix_rt::System::new().block_on(async move {
        let app = Application::build(settings)
            .await
            .map_err(|e| format!("the dispatcher cannot start: {e}"))?;
        tracing::info!(port = app.port(), "dispatcher node listening");
        app.run_until_stopped()
            .await
            .map_err(|e| format!("the dispatcher stopped with an error: {e}"))
    })
}
