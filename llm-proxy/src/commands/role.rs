//! `llm-proxy proxy` and `llm-proxy admin`: one role per process.

use std::sync::Arc;

use admin_node::AdminState;
use llm_proxy_platform::settings::DatabaseKind;
use llm_proxy_platform::{ControlBus, Settings};
use proxy_node::ProxyState;

use crate::bootstrap;
use crate::cli::ServeArgs;
use crate::server;

/// Embedded (SQLite) deployments may keep their key in the data directory; shared databases
/// need the one key every node is given.
fn may_generate_key(settings: &Settings) -> bool {
    matches!(settings.database_kind(), Ok(DatabaseKind::Sqlite(_)))
}

pub fn run_proxy(args: ServeArgs) -> Result<(), String> {
    let settings = bootstrap::load_settings(&args)?;
    bootstrap::ensure_data_dir(&settings)?;
    let key = bootstrap::encryption_key(&settings, may_generate_key(&settings))?;
    actix_rt::System::new().block_on(async move {
        // Proxies never migrate: the admin node (or `llm-proxy migrate`) owns the schema.
        let store = bootstrap::open_store(&settings, &key, false).await?;
        let proxy = ProxyState::start(settings.clone(), store, ControlBus::in_process())
            .map_err(|e| e.to_string())?;
        let health = proxy_node::configure_health(proxy.clone());
        let data_plane = proxy_node::configure_proxy(proxy.clone());
        let (server, port) = server::bind(&settings, move |cfg| {
            health(cfg);
            data_plane(cfg);
        })?;
        tracing::info!(port, "proxy node listening");
        let result = server
            .await
            .map_err(|e| format!("server stopped with an error: {e}"));
        proxy.shutdown().await;
        result
    })
}

pub fn run_admin(args: ServeArgs) -> Result<(), String> {
    let loaded = bootstrap::load_settings(&args)?;
    bootstrap::ensure_data_dir(&loaded)?;
    let key = bootstrap::encryption_key(&loaded, may_generate_key(&loaded))?;
    let management = bootstrap::management_token(&loaded)?;
    let mut settings = (*loaded).clone();
    settings.management_token = Some(management.secret().clone());
    let settings = Arc::new(settings);
    actix_rt::System::new().block_on(async move {
        let store =
            bootstrap::open_store(&settings, &key, settings.database.migrate_on_start).await?;
        let admin = AdminState::start(settings.clone(), store, ControlBus::in_process());
        let health = admin_node::configure_health(admin.clone());
        let manage = admin_node::configure_admin(admin);
        let (server, port) = server::bind(&settings, move |cfg| {
            health(cfg);
            manage(cfg);
        })?;
        tracing::info!(port, "admin node listening");
        server
            .await
            .map_err(|e| format!("server stopped with an error: {e}"))
    })
}
