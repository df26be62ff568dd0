//! `llm-proxy up`: the whole gateway in one process on the embedded backends.

use std::sync::Arc;

use admin_node::AdminState;
use llm_proxy_platform::{ControlBus, Settings};
use proxy_node::ProxyState;

use crate::bootstrap::{self, ManagementToken};
use crate::cli::ServeArgs;
use crate::server;

pub fn run(args: ServeArgs) -> Result<(), String> {
    let loaded = bootstrap::load_settings(&args)?;
    bootstrap::ensure_data_dir(&loaded)?;
    let key = bootstrap::encryption_key(&loaded, true)?;
    let management = bootstrap::management_token(&loaded)?;
    let mut settings = (*loaded).clone();
    settings.management_token = Some(management.secret().clone());
    let settings = Arc::new(settings);

    actix_rt::System::new().block_on(async move {
        let store =
            bootstrap::open_store(&settings, &key, settings.database.migrate_on_start).await?;
        let control = ControlBus::in_process();
        let proxy = ProxyState::start(settings.clone(), store.clone(), control.clone())
            .map_err(|e| e.to_string())?;
        let admin = AdminState::start(settings.clone(), store, control);

        let health = proxy_node::configure_health(proxy.clone());
        let manage = admin_node::configure_admin(admin);
        let data_plane = proxy_node::configure_proxy(proxy.clone());
        let (server, port) = server::bind(&settings, move |cfg| {
            health(cfg);
            manage(cfg);
            data_plane(cfg);
        })?;
        print_banner(&settings, port, &management);
        let result = server
            .await
            .map_err(|e| format!("server stopped with an error: {e}"));
        proxy.shutdown().await;
        tracing::info!("stopped");
        result
    })
}

fn print_banner(settings: &Settings, port: u16, management: &ManagementToken) {
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
    println!(
        r#"llm-proxy is up on {base}  (store: {store}, events: {events})
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
        events = settings.events_dir().display(),
    );
}
