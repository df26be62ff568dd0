//! Passthrough providers declared in config: any OpenAI-compatible upstream with its own auth
//! header style (none for a local vLLM, `api-key` for Azure OpenAI, a bearer for OpenRouter),
//! and `/{provider}/{host}/{rest}` only for hosts in `allowed_upstreams`.

use std::collections::BTreeMap;
use std::sync::Arc;

use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::project::NewProject;
use llm_proxy_core::SecretString;
use llm_proxy_platform::settings::{AuthStyle, ProviderSettings};
use proxy_node::ProxyParts;
use serde_json::json;

use crate::fixtures::{event, AgentGateway, FixtureUpstream, OPENAI_CHAT_STREAM};
use crate::helpers::{assert_error, read_all, spawn_app_full, CollectingSink};

const AZURE_KEY: &str = "3f9c2d7e8a1b4c6d9e0f1a2b3c4d5e6f";
const OPENROUTER_KEY: &str = "sk-or-v1-5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";

/// Asks for usage itself, so the stream reaches it exactly as the upstream sent it.
fn chat_body() -> serde_json::Value {
    json!({"model": "meta-llama/Llama-3.1-8B-Instruct", "stream": true,
           "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "Summarise the cart module."}]})
}

#[actix_web::test]
async fn passthrough_providers_send_the_key_in_their_own_style() {
    let upstream = FixtureUpstream::start().await;
    let other = FixtureUpstream::start().await;
    let (base, other_host) = (upstream.base_url(), other.host());
    let sink = Arc::new(CollectingSink::default());
    let app = spawn_app_full(
        move |settings, _| {
            let declare = |auth: AuthStyle, upstreams: Vec<String>| ProviderSettings {
                base_url: base.clone(),
                auth,
                allowed_upstreams: upstreams,
                ..ProviderSettings::default()
            };
            let providers = &mut settings.providers;
            providers.insert(
                "vllm".into(),
                declare(AuthStyle::None, vec![other_host.clone()]),
            );
            providers.insert("azure".into(), declare(AuthStyle::ApiKey, Vec::new()));
            providers.insert("openrouter".into(), declare(AuthStyle::Bearer, Vec::new()));
        },
        ProxyParts::default().with_sink(sink.clone()),
        None,
    )
    .await;
    let keys = BTreeMap::from([
        // Never sent (auth = none); it is what lets the project's tokens call vLLM.
        ("vllm".to_owned(), SecretString::new("unused")),
        ("azure".to_owned(), SecretString::new(AZURE_KEY)),
        ("openrouter".to_owned(), SecretString::new(OPENROUTER_KEY)),
    ]);
    let project = app
        .store
        .create_project(
            NewProject {
                name: "agents".into(),
                provider_keys: keys,
                rate_limit_rpm: None,
            },
            &AuditContext::system("test"),
        )
        .await
        .unwrap();
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    let (secret, _) = app.create_token(project.id, None, Some(expires)).await;
    let token = secret.expose().to_owned();
    let bearer = format!("Bearer {token}");
    let post = |path: &str, id: &str| {
        app.client
            .post(app.url(path))
            .insert_header(("x-request-id", id.to_owned()))
    };

    // vLLM on the configured base URL: nothing that looks like a credential goes upstream.
    let request =
        post("/vllm/v1/chat/completions", "vllm").insert_header(("authorization", bearer.clone()));
    let mut response = request.send_json(&chat_body()).await.unwrap();
    let (status, _, body) = read_all(&mut response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.as_str().unwrap(),
        String::from_utf8_lossy(OPENAI_CHAT_STREAM)
    );
    let seen = upstream.last();
    assert_eq!(seen.path, "/v1/chat/completions");
    for header in ["authorization", "api-key", "x-api-key"] {
        assert!(!seen.has_header(header), "{header} sent to vLLM");
    }
    assert!(!seen.contains(&token));

    // Azure OpenAI: the SDK sends its key as `api-key`; the deployment path and api-version
    // pass through.
    let request = post(
        "/azure/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
        "azure",
    )
    .insert_header(("api-key", token.clone()));
    let mut response = request.send_json(&chat_body()).await.unwrap();
    assert_eq!(read_all(&mut response).await.0, 200);
    let seen = upstream.last();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        (
            "/openai/deployments/gpt-4o-mini/chat/completions",
            "api-version=2024-10-21"
        )
    );
    assert_eq!(seen.header("api-key"), Some(AZURE_KEY));
    assert!(!seen.has_header("authorization"));

    // OpenRouter: a bearer.
    let request = post("/openrouter/v1/chat/completions", "openrouter")
        .insert_header(("authorization", bearer.clone()));
    let mut response = request.send_json(&chat_body()).await.unwrap();
    assert_eq!(read_all(&mut response).await.0, 200);
    assert_eq!(
        upstream.last().header("authorization"),
        Some(format!("Bearer {OPENROUTER_KEY}").as_str())
    );

    // Another host only when it is allowed.
    let allowed = format!("/vllm/{}/v1/chat/completions", other.host());
    let request = post(&allowed, "vllm-other").insert_header(("authorization", bearer.clone()));
    let mut response = request.send_json(&chat_body()).await.unwrap();
    assert_eq!(read_all(&mut response).await.0, 200);
    assert_eq!(other.requests().len(), 1);
    let refused = "/vllm/127.0.0.1:1/v1/chat/completions";
    let request = post(refused, "vllm-refused").insert_header(("authorization", bearer.clone()));
    let mut response = request.send_json(&chat_body()).await.unwrap();
    let (status, headers, body) = read_all(&mut response).await;
    assert_error(status, &headers, &body, 403, "upstream_not_allowed");
    assert_eq!(
        upstream.requests().len(),
        3,
        "a refused host is never called"
    );

    let gw_events = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            app.state.events.flush().await;
            let events = sink.events();
            if events.len() >= 5 || std::time::Instant::now() > deadline {
                break events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    assert_eq!(event(&gw_events, "vllm").provider, "vllm");
    assert_eq!(event(&gw_events, "vllm-other").upstream, other.host());
    assert_eq!(
        event(&gw_events, "azure")
            .usage
            .clone()
            .unwrap()
            .total_tokens,
        Some(99)
    );
    app.stop().await;
    upstream.stop().await;
    other.stop().await;
}

#[actix_web::test]
async fn the_default_openai_provider_serves_the_responses_api() {
    let gw = AgentGateway::start().await;
    let body = json!({"model": "gpt-5", "input": "Say hi", "stream": false, "store": false});
    let request = gw
        .app
        .client
        .post(gw.app.url("/v1/responses"))
        .insert_header(("authorization", gw.bearer.clone()))
        .insert_header(("x-request-id", "responses"));
    let answer = gw.post(request, &body).await;
    assert!(answer.starts_with(b"event: response.created"));
    let events = gw.events(&[&gw.app], 1).await;
    let e = event(&events, "responses");
    assert_eq!(
        (e.provider.as_str(), e.path.as_str()),
        ("openai", "/v1/responses")
    );
    assert_eq!(e.usage.clone().unwrap().total_tokens, Some(4306));
    gw.stop().await;
}
