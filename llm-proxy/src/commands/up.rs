//! `llm-proxy up`: the whole gateway in one process on the embedded backends. Events go
//! through the in-process dispatcher (the dispatcher role's sink code) and into the usage
//! ledger.

use std::sync::Arc;
use std::time::Duration;

use admin_node::AdminState;
use dispatcher_node::sink::FileSink;
use dispatcher_node::{InProcessConfig, InProcessDispatcher, Metrics};
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_platform::{ControlBus, Settings};
use llm_proxy_store::DynStore;
use proxy_node::ProxyState;

use crate::bootstrap::{self, ManagementToken};
use crate::cli::ServeArgs;
use crate::events_bridge::DispatcherBridge;
use crate::{dispatcher_metrics, server, usage_ledger};

pub fn run(args: ServeArgs) -> Result<(), String> {
    let loaded = bootstrap::load_settings(&args)?;
    bootstrap::ensure_data_dir(&loaded)?;
    let key = bootstrap::encryption_key(&loaded, true)?;
    let management = bootstrap::management_token(&loaded)?;
    let mut settings = (*loaded).clone();
    settings.management_token = Some(management.secret().clone());
    let file_sink_by_default = enable_file_sink_by_default(&mut settings);
    if settings.sinks.file.enabled {
        let dir = FileSink::dir_from_settings(&settings);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the events directory {}: {e}", dir.display()))?;
    }
    let settings = Arc::new(settings);

    actix_rt::System::new().block_on(async move {
        let store =
            bootstrap::open_store(&settings, &key, settings.database.migrate_on_start).await?;
        let metrics = Arc::new(Metrics::new());
        let dispatcher = start_dispatcher(&settings, store.clone(), &metrics)?;
        let control = ControlBus::in_process();
        let proxy = ProxyState::start_with_sink(
            settings.clone(),
            store.clone(),
            control.clone(),
            Arc::new(DispatcherBridge::new(dispatcher.sender())),
        )
        .map_err(|e| e.to_string())?;
        let admin = AdminState::start(settings.clone(), store, control);

        let health = proxy_node::configure_health(proxy.clone());
        let sink_metrics = dispatcher_metrics::configure(metrics);
        let manage = admin_node::configure_admin(admin);
        let data_plane = proxy_node::configure_proxy(proxy.clone());
        let (server, port) = server::bind(&settings, vec![proxy.drain_handle()], move |cfg| {
            health(cfg);
            sink_metrics(cfg);
            manage(cfg);
            data_plane(cfg);
        })?;
        print_banner(&settings, port, &management, file_sink_by_default);
        let result = server
            .await
            .map_err(|e| format!("server stopped with an error: {e}"));
        proxy.shutdown().await;
        dispatcher
            .shutdown(Duration::from_secs(settings.server.shutdown_timeout_secs))
            .await;
        tracing::info!("stopped");
        result
    })
}

/// With no sink enabled, `up` would record events nowhere: it turns the file sink on (events
/// under the data directory). `events.enabled = false` is how to record nothing.
fn enable_file_sink_by_default(settings: &mut Settings) -> bool {
    if !settings.events.enabled || !settings.sinks.enabled().is_empty() {
        return false;
    }
    settings.sinks.file.enabled = true;
    true
}

/// Every enabled sink plus the usage ledger, each behind its own bounded queue.
fn start_dispatcher(
    settings: &Arc<Settings>,
    store: DynStore,
    metrics: &Metrics,
) -> Result<InProcessDispatcher, String> {
    let mut specs = dispatcher_node::sink::enabled_sinks(settings).map_err(|e| e.to_string())?;
    specs.retain(|spec| spec.name != usage_ledger::NAME);
    specs.push(usage_ledger::spec(store, settings));
    Ok(InProcessDispatcher::start(
        specs,
        InProcessConfig::from_settings(settings),
        metrics,
    ))
}

fn events_label(settings: &Settings) -> String {
    if !settings.events.enabled {
        return "off".to_owned();
    }
    settings
        .sinks
        .enabled()
        .into_iter()
        .filter(|sink| *sink != usage_ledger::NAME)
        .map(|sink| match sink {
            "file" => {
                let layout = match settings.sinks.file.layout {
                    FileLayout::Session => "per-session JSONL",
                    FileLayout::Daily => "daily JSONL",
                };
                format!(
                    "file {} ({layout})",
                    FileSink::dir_from_settings(settings).display()
                )
            }
            other => other.to_owned(),
        })
        .chain(std::iter::once("usage ledger".to_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_banner(
    settings: &Settings,
    port: u16,
    management: &ManagementToken,
    file_sink_by_default: bool,
) {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        other => other,
    };
    let base = format!("http://{host}:{port}");
    let (token_line, token_value) = match management {
        ManagementToken::Configured(_) => (
            "management token: from LLM_PROXY_MANAGEMENT_TOKEN".to_owned(),
            "$LLM_PROXY_MANAGEMENT_TOKEN".to_owned(),
        ),
        ManagementToken::Generated { token, path } => (
            format!(
                "management token (generated now, saved in {}): {}",
                path.display(),
                token.expose()
            ),
            token.expose().to_owned(),
        ),
        ManagementToken::Stored { path, .. } => (
            format!("management token: in {}", path.display()),
            format!("$(cat {})", path.display()),
        ),
    };
    let default_note = if file_sink_by_default {
        "\n(the file sink is on because no [sinks.*] is enabled; enable sinks in the config to choose, or set events.enabled = false)"
    } else {
        ""
    };
    println!(
        r#"llm-proxy is up on {base}  (store: {store}, events: {events}){default_note}
{token_line}
admin UI: {base}/admin

Create a project with its OpenAI key:
  curl -s -X POST {base}/manage/projects -H "Authorization: Bearer {token_value}" \
    -H 'Content-Type: application/json' -d '{{"name":"my-app","api_key":"sk-..."}}'
Create a withering token for it (shown once):
  curl -s -X POST {base}/manage/tokens -H "Authorization: Bearer {token_value}" \
    -H 'Content-Type: application/json' -d '{{"project_id":"<project id>","duration_minutes":1440}}'
Call OpenAI through the gateway (OPENAI_BASE_URL={base}/v1):
  curl -s {base}/v1/chat/completions -H "Authorization: Bearer <wt_… token>" \
    -H 'Content-Type: application/json' -d '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}]}}'"#,
        store = bootstrap::backend_label(settings),
        events = events_label(settings),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sink_is_on_unless_sinks_are_configured() {
        let mut settings = Settings::default();
        assert!(enable_file_sink_by_default(&mut settings));
        assert_eq!(settings.sinks.enabled(), vec!["file"]);

        let mut settings = Settings::default();
        settings.sinks.loki.enabled = true;
        assert!(!enable_file_sink_by_default(&mut settings));
        assert_eq!(settings.sinks.enabled(), vec!["loki"]);

        let mut settings = Settings::default();
        settings.events.enabled = false;
        assert!(!enable_file_sink_by_default(&mut settings));
        assert!(settings.sinks.enabled().is_empty());
    }
}
