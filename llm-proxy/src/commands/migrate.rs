//! `llm-proxy migrate`: run the migrations of the configured database and exit.

use crate::bootstrap;
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<(), String> {
    let settings = bootstrap::load_settings(&args)?;
    actix_rt::System::new().block_on(async move {
        bootstrap::ensure_data_dir(&settings)?;
        llm_proxy_store::migrate(&settings)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(backend = %bootstrap::backend_label(&settings), "migrations applied");
        Ok(())
    })
}
