//! Upstream resilience: the circuit breaker opening on a failing upstream and closing once it
//! healed, retries (off by default) that happen only before the first byte and never start a
//! stream twice, the retry budget, the concurrency limit per provider, and graceful drain:
//! in process, and through SIGTERM to the `proxy-node` binary.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::project::NewProject;
use llm_proxy_core::token::NewToken;
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, EncryptionKey};
use llm_proxy_store::DynStore;
use llm_proxy_testkit::db::TestSqlite;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use proxy_node::resilience::drain;
use serde_json::Value;

use crate::helpers::{assert_error, captured_logs, spawn_app_with, TestApp, OPENAI_KEY};

fn breaker(settings: &mut llm_proxy_platform::Settings, threshold: u32, open_secs: u64) {
    settings.resilience.breaker.failure_threshold = threshold;
    settings.resilience.breaker.open_secs = open_secs;
}

fn retries(settings: &mut llm_proxy_platform::Settings, attempts: u32) {
    let retry = &mut settings.resilience.retry;
    retry.enabled = true;
    retry.max_attempts = attempts;
    retry.base_delay_ms = 1;
    retry.max_delay_ms = 5;
}

async fn chat(app: &TestApp, bearer: &str) -> (u16, awc::http::header::HeaderMap, Value) {
    app.send_json(app.chat(bearer), &TestApp::chat_body(false))
        .await
}

#[actix_web::test]
async fn the_breaker_opens_on_a_failing_upstream_and_closes_once_it_healed() {
    let app = spawn_app_with(|s, _| breaker(s, 3, 1)).await;
    let s = app.seed().await;
    app.upstream.set_failing(Some(503));
    for _ in 0..3 {
        // The upstream's own error passes through while the breaker is closed.
        let (status, _, body) = chat(&app, &s.bearer()).await;
        assert_eq!(status, 503);
        assert_eq!(body["error"]["code"], "fake_error");
    }
    let (status, headers, body) = chat(&app, &s.bearer()).await;
    assert_error(status, &headers, &body, 503, "upstream_unavailable");
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=2).contains(&retry_after), "{headers:?}");
    assert_eq!(
        app.upstream.request_count(),
        3,
        "an open breaker calls nobody"
    );

    app.upstream.set_failing(None);
    // After `open_secs` one probe goes through; its success closes the breaker.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = chat(&app, &s.bearer()).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "the breaker never let a probe through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(chat(&app, &s.bearer()).await.0, 200);
    }
    let metrics = app.metrics().await;
    for to in ["open", "half_open", "closed"] {
        let line = format!(
            "llm_proxy_breaker_transitions_total{{upstream=\"openai/{}\",to=\"{to}\"}}",
            app.upstream.host()
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    assert!(metrics.contains("llm_proxy_breaker_refusals_total"));
    let logs = captured_logs();
    assert!(logs.contains("circuit breaker opened"));
    assert!(logs.contains("circuit breaker closed"));
    let events = app.events(5).await;
    let refused = events
        .iter()
        .find(|e| e["error_code"] == "upstream_unavailable")
        .unwrap_or_else(|| panic!("no refusal event"));
    assert_eq!(refused["attempts"], 0);
    app.stop().await;
}

#[actix_web::test]
async fn retries_are_off_by_default() {
    let app = spawn_app_with(|_, _| {}).await;
    let s = app.seed().await;
    app.upstream.fail_next(1, 502);
    assert_eq!(chat(&app, &s.bearer()).await.0, 502);
    assert_eq!(app.upstream.request_count(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn retries_recover_before_the_first_byte_and_count_attempts() {
    let app = spawn_app_with(|s, _| retries(s, 3)).await;
    let s = app.seed().await;
    app.upstream.fail_next(2, 503);
    let (status, _, body) = chat(&app, &s.bearer()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.upstream.request_count(), 3);
    let events = app.events(1).await;
    assert_eq!(events[0]["attempts"], 3, "{}", events[0]);
    assert!(app
        .metrics()
        .await
        .contains("llm_proxy_upstream_retries_total{provider=\"openai\"} 2"));

    // Attempts run out: the last answer is the client's.
    app.upstream.fail_next(5, 502);
    let (status, _, _) = chat(&app, &s.bearer()).await;
    assert_eq!(status, 502);
    assert_eq!(app.upstream.request_count(), 6);
    app.stop().await;
}

#[actix_web::test]
async fn an_unreachable_upstream_is_retried_then_reported() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_app_with(move |s, _| {
        retries(s, 3);
        if let Some(openai) = s.providers.get_mut("openai") {
            openai.base_url = format!("http://127.0.0.1:{closed}");
        }
    })
    .await;
    let s = app.seed().await;
    let (status, headers, body) = chat(&app, &s.bearer()).await;
    assert_error(status, &headers, &body, 502, "upstream_unreachable");
    let events = app.events(1).await;
    assert_eq!(events[0]["attempts"], 3);
    assert_eq!(events[0]["termination"], "upstream_error");
    app.stop().await;
}

#[actix_web::test]
async fn the_retry_budget_caps_retries() {
    let app = spawn_app_with(|s, _| {
        retries(s, 5);
        s.resilience.retry.budget_reserve = 1;
        s.resilience.retry.budget_ratio = 0.0;
    })
    .await;
    let s = app.seed().await;
    app.upstream.set_failing(Some(503));
    chat(&app, &s.bearer()).await;
    // One retry in the budget: two attempts, not five.
    assert_eq!(app.upstream.request_count(), 2);
    chat(&app, &s.bearer()).await;
    assert_eq!(app.upstream.request_count(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn a_started_stream_is_never_retried() {
    let app = spawn_app_with(|s, _| {
        retries(s, 3);
        if let Some(openai) = s.providers.get_mut("openai") {
            openai.idle_timeout_ms = 300;
        }
    })
    .await;
    let s = app.seed().await;
    // The upstream sends two chunks, then goes silent: the client gets them, then an error
    // event; nothing is sent again.
    let (status, _, body) = app
        .send_json(
            app.chat(&s.bearer())
                .insert_header(("x-fake-stall-after", "2")),
            &TestApp::chat_body(true),
        )
        .await;
    assert_eq!(status, 200);
    let text = body.as_str().unwrap_or_default();
    assert_eq!(text.matches("tok0").count(), 1, "{text}");
    assert!(text.contains("upstream_timeout"), "{text}");
    assert_eq!(app.upstream.request_count(), 1);
    let events = app.events(1).await;
    assert_eq!(events[0]["attempts"], 1);
    assert_eq!(events[0]["termination"], "timeout");

    // A 503 before the stream started is retried, and the client sees one stream.
    app.upstream.fail_next(1, 503);
    let (status, _, body) = app
        .send_json(app.chat(&s.bearer()), &TestApp::chat_body(true))
        .await;
    assert_eq!(status, 200);
    let text = body.as_str().unwrap_or_default();
    assert_eq!(text.matches("tok0").count(), 1, "{text}");
    assert_eq!(text.matches("[DONE]").count(), 1, "{text}");
    assert_eq!(app.upstream.request_count(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn the_provider_concurrency_limit_refuses_when_full() {
    let app = spawn_app_with(|s, _| {
        if let Some(openai) = s.providers.get_mut("openai") {
            openai.max_concurrent_requests = 1;
            openai.first_byte_timeout_ms = 300;
        }
    })
    .await;
    let s = app.seed().await;
    let mut held = app
        .chat(&s.bearer())
        .insert_header(("x-fake-hold-last", "1"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held.status().as_u16(), 200);
    let (status, headers, body) = chat(&app, &s.bearer()).await;
    assert_error(status, &headers, &body, 503, "upstream_unavailable");
    assert!(headers.contains_key("retry-after"));
    app.upstream.release();
    while let Some(chunk) = held.next().await {
        chunk.unwrap_or_else(|e| panic!("{e}"));
    }
    // The slot is free again once the stream ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    while chat(&app, &s.bearer()).await.0 != 200 {
        assert!(Instant::now() < deadline, "the slot was never freed");
    }
    app.stop().await;
}

#[actix_web::test]
async fn drain_fails_readiness_and_keeps_an_in_flight_stream_alive() {
    let app = spawn_app_with(|_, _| {}).await;
    let s = app.seed().await;
    let mut stream = app
        .chat(&s.bearer())
        .insert_header(("x-fake-hold-last", "1"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = stream.next().await;
    assert!(matches!(first, Some(Ok(_))));

    app.state.begin_drain();
    let (status, _, body) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "draining");
    let (status, headers, _) = chat(&app, &s.bearer()).await;
    assert_eq!(status, 200, "a draining node still serves what reaches it");
    assert_eq!(
        headers.get("connection").and_then(|v| v.to_str().ok()),
        Some("close")
    );

    let handle = app.state.drain_handle();
    let stopping = actix_rt::spawn(drain::drain_now(
        vec![handle],
        app_handle(&app),
        Duration::ZERO,
    ));
    app.upstream.release();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("stream cut by the drain: {e}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let _ = stopping.await;
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "a drained node accepts nothing new"
    );
    app.stop().await;
}

fn app_handle(app: &TestApp) -> actix_web::dev::ServerHandle {
    app.server_handle()
}

/// A project with an OpenAI key and one token, straight through the store.
async fn seed(store: DynStore) -> TokenSecret {
    let audit = AuditContext::system("test");
    let project = store
        .create_project(
            NewProject {
                name: format!("p-{}", uuid::Uuid::new_v4().simple()),
                provider_keys: BTreeMap::from([(
                    "openai".to_owned(),
                    SecretString::new(OPENAI_KEY),
                )]),
                rate_limit_rpm: None,
            },
            &audit,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let secret = TokenSecret::generate();
    store
        .create_token(
            NewToken {
                project_id: project.id,
                token_hash: secret.hash(),
                obfuscated: secret.obfuscated(),
                expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
                max_requests: None,
                rate_limit_rpm: None,
            },
            &audit,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    secret
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The real binary, a real SIGTERM: readiness goes false during `drain_delay_secs`, the stream
/// in flight finishes, the process exits cleanly.
#[actix_web::test]
async fn sigterm_drains_the_proxy_node_binary() {
    let upstream = FakeUpstream::start().await;
    let db = TestSqlite::create().await;
    let key = EncryptionKey::generate();
    let store = db.store(Cipher::new(&key)).await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxy-node"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LLM_PROXY_SERVER__PORT", port.to_string())
        .env("LLM_PROXY_SERVER__DRAIN_DELAY_SECS", "1")
        .env("LLM_PROXY_SERVER__SHUTDOWN_TIMEOUT_SECS", "20")
        .env(
            "LLM_PROXY_DATABASE__URL",
            db.settings().database.url.expose(),
        )
        .env("LLM_PROXY_ENCRYPTION_KEY", key.to_base64())
        .env("LLM_PROXY_DATA_DIR", data.path())
        .env("LLM_PROXY_PROVIDERS__OPENAI__BASE_URL", upstream.base_url())
        .env("LLM_PROXY_TELEMETRY__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start proxy-node: {e}"));
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "proxy-node never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seeded = seed(Arc::new(store)).await;

    let mut stream = client
        .post(format!("{base}/v1/chat/completions"))
        .insert_header(("authorization", format!("Bearer {}", seeded.expose())))
        .insert_header(("x-fake-hold-last", "1"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status().as_u16(), 200);
    assert!(matches!(stream.next().await, Some(Ok(_))));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(killed.success());
    // Readiness fails while the listener still accepts (the drain delay).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        if status == Some(503) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never failed: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the delay the listener is closed, while the stream is still being held.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{base}/healthz")).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    upstream.release();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("the drain cut the stream: {e}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "proxy-node did not exit after the drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    upstream.stop().await;
    db.remove();
}

/// An upstream that takes each connection, reads the request and hangs up without answering:
/// what a pooled keep-alive connection closed by the upstream looks like to the gateway.
fn hanging_up_upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            drop(stream);
        }
    });
    port
}

#[actix_web::test]
async fn dropped_connections_are_502_and_do_not_open_the_breaker() {
    let port = hanging_up_upstream();
    let app = spawn_app_with(move |s, _| {
        breaker(s, 2, 30);
        if let Some(openai) = s.providers.get_mut("openai") {
            openai.base_url = format!("http://127.0.0.1:{port}");
        }
    })
    .await;
    let s = app.seed().await;
    for _ in 0..4 {
        let (status, headers, body) = chat(&app, &s.bearer()).await;
        assert_error(status, &headers, &body, 502, "upstream_unreachable");
    }
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains(r#"to="open""#),
        "a dropped connection is no evidence against the upstream:\n{metrics}"
    );
    app.stop().await;
}
