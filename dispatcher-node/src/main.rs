//! The dispatcher role on its own: settings, telemetry, `Application`.

use std::sync::Arc;

use dispatcher_node::Application;
use llm_proxy_platform::{telemetry, LoadOptions, Settings};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::load(LoadOptions::default()) {
        Ok(settings) => Arc::new(settings),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.telemetry);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "dispatcher cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "dispatcher stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}
