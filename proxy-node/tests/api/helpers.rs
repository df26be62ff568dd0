//! `spawn_app` and the `TestApp` every test drives (zero2prod style).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use chrono::{DateTime, Utc};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::project::{NewProject, Project};
use llm_proxy_core::token::{NewToken, Token};
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, ControlBus, EncryptionKey, Settings};
use llm_proxy_store::DynStore;
use llm_proxy_testkit::db::TestSqlite;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use proxy_node::{Application, ProxyState};
use serde_json::{json, Value};

pub const OPENAI_KEY: &str = "sk-proj-upstream-openai-key-0001";
pub const ANTHROPIC_KEY: &str = "sk-ant-api03-upstream-anthropic-0001";

/// Everything logged by any test in this binary (debug level), for the secrecy test.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = Arc::clone(&buffer);
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                .with_ansi(false)
                .with_writer(move || CaptureWriter(Arc::clone(&writer)))
                .try_init();
            buffer
        })
        .clone()
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestApp {
    pub address: String,
    pub store: DynStore,
    pub control: ControlBus,
    pub upstream: FakeUpstream,
    pub settings: Arc<Settings>,
    pub state: ProxyState,
    pub client: awc::Client,
    handle: ServerHandle,
    db: TestSqlite,
}

/// A project with keys for both providers and one token.
pub struct Seeded {
    pub project: Project,
    pub token: Token,
    pub secret: TokenSecret,
}

impl Seeded {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.secret.expose())
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_, _| {}).await
}

/// Like `spawn_app`, letting the test adjust settings (the fake upstream is already running).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings, &FakeUpstream)) -> TestApp {
    log_buffer();
    let upstream = FakeUpstream::start().await;
    let db = TestSqlite::create().await;
    let mut settings = db.settings();
    settings.server.port = 0;
    settings.server.workers = Some(2);
    settings.token_cache.flush_interval_ms = 50;
    for provider in settings.providers.values_mut() {
        provider.base_url = upstream.base_url();
        provider.allowed_upstreams = vec![upstream.host()];
    }
    adjust(&mut settings, &upstream);
    let settings = Arc::new(settings);
    let cipher = Cipher::new(&EncryptionKey::generate());
    let store: DynStore = Arc::new(db.store(cipher).await);
    let control = ControlBus::in_process();
    let app = match Application::build(Arc::clone(&settings), store.clone(), control.clone()) {
        Ok(app) => app,
        Err(e) => panic!("cannot build the app: {e}"),
    };
    let port = app.port();
    let state = app.state().clone();
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        store,
        control,
        upstream,
        settings,
        state,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish(),
        handle,
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn events_dir(&self) -> PathBuf {
        self.settings.events_dir()
    }

    pub async fn create_project(&self, name: &str) -> Project {
        let keys = BTreeMap::from([
            ("openai".to_owned(), SecretString::new(OPENAI_KEY)),
            ("anthropic".to_owned(), SecretString::new(ANTHROPIC_KEY)),
        ]);
        let new = NewProject {
            name: name.to_owned(),
            provider_keys: keys,
            rate_limit_rpm: None,
        };
        match self
            .store
            .create_project(new, &AuditContext::system("test"))
            .await
        {
            Ok(p) => p,
            Err(e) => panic!("create project: {e}"),
        }
    }

    pub async fn create_token(
        &self,
        project_id: uuid::Uuid,
        max_requests: Option<u64>,
        expires_at: Option<DateTime<Utc>>,
    ) -> (TokenSecret, Token) {
        let secret = TokenSecret::generate();
        let new = NewToken {
            project_id,
            token_hash: secret.hash(),
            obfuscated: secret.obfuscated(),
            expires_at,
            max_requests,
            rate_limit_rpm: None,
        };
        match self
            .store
            .create_token(new, &AuditContext::system("test"))
            .await
        {
            Ok(t) => (secret, t),
            Err(e) => panic!("create token: {e}"),
        }
    }

    /// A project and a token with no limits, expiring in an hour.
    pub async fn seed(&self) -> Seeded {
        self.seed_with(None).await
    }

    pub async fn seed_with(&self, max_requests: Option<u64>) -> Seeded {
        let project = self
            .create_project(&format!("p-{}", uuid::Uuid::new_v4().simple()))
            .await;
        let expires = Utc::now() + chrono::Duration::hours(1);
        let (secret, token) = self
            .create_token(project.id, max_requests, Some(expires))
            .await;
        Seeded {
            project,
            token,
            secret,
        }
    }

    /// Revokes through the store and publishes the control event, as the management API does.
    pub async fn revoke(&self, token: &Token) {
        if let Err(e) = self
            .store
            .revoke_token(token.id, &AuditContext::system("test"))
            .await
        {
            panic!("revoke: {e}");
        }
        self.control
            .publish(ControlEvent::TokenChanged { token_id: token.id });
    }

    pub fn chat_body(stream: bool) -> Value {
        json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]
        })
    }

    /// `POST /v1/chat/completions` with a bearer token.
    pub fn chat(&self, bearer: &str) -> awc::ClientRequest {
        self.client
            .post(self.url("/v1/chat/completions"))
            .insert_header(("authorization", bearer))
    }

    /// Sends and reads the whole answer: status, headers, body.
    pub async fn send_json(
        &self,
        request: awc::ClientRequest,
        body: &Value,
    ) -> (u16, awc::http::header::HeaderMap, Value) {
        let mut response = match request.send_json(body).await {
            Ok(r) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        read_all(&mut response).await
    }

    pub async fn send(
        &self,
        request: awc::ClientRequest,
    ) -> (u16, awc::http::header::HeaderMap, Value) {
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        read_all(&mut response).await
    }

    /// Waits until the event files hold at least `n` events (flushing the log actor).
    pub async fn events(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.state.events.flush().await;
            let events = read_events(&self.events_dir());
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        let mut response = match self.client.get(self.url("/metrics")).send().await {
            Ok(r) => r,
            Err(e) => panic!("metrics: {e}"),
        };
        let body = response.body().await.unwrap_or_default();
        String::from_utf8_lossy(&body).into_owned()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.state.shutdown().await;
        self.upstream.stop().await;
        self.db.remove();
    }
}

pub async fn read_all(
    response: &mut awc::ClientResponse<
        impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> (u16, awc::http::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body().limit(16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => panic!("reading the body failed: {e}"),
    };
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, headers, value)
}

/// Every event line in every file of the directory.
pub fn read_events(dir: &std::path::Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

/// Everything in the events directory as one string.
pub fn events_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    out
}

/// Asserts the gateway's own error envelope.
pub fn assert_error(
    status: u16,
    headers: &awc::http::header::HeaderMap,
    body: &Value,
    want_status: u16,
    want_code: &str,
) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "content type of {want_code}"
    );
    let error = &body["error"];
    assert_eq!(error["code"], want_code, "body: {body}");
    assert!(error["message"].is_string(), "body: {body}");
    assert!(error["type"].is_string(), "body: {body}");
    assert!(error.get("param").is_some(), "body: {body}");
    assert!(headers.contains_key("x-request-id"));
}

/// Polls `check` until it holds or the deadline passes.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        if Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
