//! `llm-proxy proxy` and `llm-proxy admin`: one role per process.
//!
//! With `redis.url` set the roles run distributed: proxies take admission and session sequence
//! numbers from Redis (built from the settings inside `ProxyState`), publish events to Redis
//! Streams and hear control events on Redis pub/sub; admin publishes a control event there after
//! each commit. Without it they keep the in-process bus and the file sink.

use std::sync::Arc;

use admin_node::AdminState;
use llm_proxy_platform::redis::{KeySpace, RedisControlPublisher};
use llm_proxy_platform::settings::DatabaseKind;
use llm_proxy_platform::{ControlBus, Settings};
use proxy_node::events::RedisStreamSink;
use proxy_node::{ProxyParts, ProxyState};

use crate::bootstrap;
use crate::cli::ServeArgs;
use crate::server;

/// Embedded (SQLite) deployments may keep their key in the data directory; shared databases
/// need the one key every node is given.
fn may_generate_key(settings: &Settings) -> bool {
    matches!(settings.database_kind(), Ok(DatabaseKind::Sqlite(_)))
}

fn mode(settings: &Settings) -> &'static str {
    if settings.redis.url.is_some() {
        "distributed"
    } else {
        "single node"
    }
}

/// The bus every token cache listens to: fed by `{prefix}:control` in distributed mode.
/// Must be called inside the runtime.
fn proxy_control(settings: &Settings) -> Result<ControlBus, String> {
    ControlBus::from_settings(settings).map_err(|e| format!("control channel: {e}"))
}

/// Admin only publishes: it caches no tokens, so it needs no subscription.
/// Must be called inside the runtime.
fn admin_control(settings: &Settings) -> Result<ControlBus, String> {
    let Some(url) = &settings.redis.url else {
        return Ok(ControlBus::in_process());
    };
    let publisher = RedisControlPublisher::start(url.expose(), &KeySpace::from_settings(settings))
        .map_err(|e| format!("control channel: {e}"))?;
    Ok(ControlBus::with_remote(Arc::new(publisher)))
}

/// Events go to Redis Streams (spilling locally while Redis is away) in distributed mode; the
/// other parts follow the settings inside `ProxyState`. Must be called inside the runtime.
fn proxy_parts(settings: &Settings) -> Result<ProxyParts, String> {
    if settings.redis.url.is_none() || !settings.events.enabled {
        return Ok(ProxyParts::default());
    }
    let sink = RedisStreamSink::open(settings).map_err(|e| e.to_string())?;
    Ok(ProxyParts::default().with_sink(Arc::new(sink)))
}

pub fn run_proxy(args: ServeArgs) -> Result<(), String> {
    let settings = bootstrap::load_settings(&args)?;
    bootstrap::ensure_data_dir(&settings)?;
    let key = bootstrap::encryption_key(&settings, may_generate_key(&settings))?;
    actix_rt::System::new().block_on(async move {
        // Proxies never migrate: the admin node (or `llm-proxy migrate`) owns the schema.
        let store = bootstrap::open_store(&settings, &key, false).await?;
        let control = proxy_control(&settings)?;
        let parts = proxy_parts(&settings)?;
        let proxy = ProxyState::start_with(settings.clone(), store, control, parts)
            .map_err(|e| e.to_string())?;
        let health = proxy_node::configure_health(proxy.clone());
        let data_plane = proxy_node::configure_proxy(proxy.clone());
        let (server, port) = server::bind(&settings, vec![proxy.drain_handle()], move |cfg| {
            health(cfg);
            data_plane(cfg);
        })?;
        tracing::info!(port, mode = mode(&settings), "proxy node listening");
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
        let control = admin_control(&settings)?;
        let admin = AdminState::start(settings.clone(), store, control);
        let health = admin_node::configure_health(admin.clone());
        let manage = admin_node::configure_admin(admin);
        let (server, port) = server::bind(&settings, Vec::new(), move |cfg| {
            health(cfg);
            manage(cfg);
        })?;
        tracing::info!(port, mode = mode(&settings), "admin node listening");
        server
            .await
            .map_err(|e| format!("server stopped with an error: {e}"))
    })
}
