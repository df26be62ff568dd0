//! The admin node alone: settings, telemetry, migrations, store, `Application`. (`llm-proxy admin`
//! does the same from the unified binary.)

use std::sync::Arc;

use admin_node::Application;
use llm_proxy_platform::{Cipher, ControlBus, EncryptionKey, LoadOptions, Settings};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("admin-node: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let settings = Settings::load(LoadOptions::default()).map_err(|e| e.to_string())?;
    llm_proxy_platform::telemetry::init(&settings.telemetry);
    let key = settings
        .encryption_key
        .as_ref()
        .ok_or("LLM_PROXY_ENCRYPTION_KEY is not set (standard base64 of 32 bytes)")?;
    let key = EncryptionKey::from_base64(key.expose()).map_err(|e| e.to_string())?;
    if settings.management_token.is_none() {
        return Err("LLM_PROXY_MANAGEMENT_TOKEN is not set".to_owned());
    }
    let settings = Arc::new(settings);
    actix_rt::System::new().block_on(async move {
        if settings.database.migrate_on_start {
            llm_proxy_store::migrate(&settings)
                .await
                .map_err(|e| e.to_string())?;
        }
        let store = llm_proxy_store::open(&settings, Cipher::new(&key))
            .await
            .map_err(|e| e.to_string())?;
        let app = Application::build(Arc::clone(&settings), store, ControlBus::in_process())
            .map_err(|e| e.to_string())?;
        tracing::info!(port = app.port(), "admin node listening");
        app.run_until_stopped()
            .await
            .map_err(|e| format!("server stopped with an error: {e}"))
    })
}
