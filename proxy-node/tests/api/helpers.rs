//! `spawn_app` and the `TestApp` every test drives (zero2prod style).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_core::project::{NewProject, Project};
use llm_proxy_core::token::{NewToken, Token};
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, ControlBus, EncryptionKey, Settings};
use llm_proxy_store::DynStore;
use llm_proxy_testkit::db::TestSqlite;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use proxy_node::events::BatchOutcome;
use proxy_node::{Application, EventSink, ProxyParts, ProxyState, SinkError};
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
    /// Shared with peers ([`TestApp::spawn_peer`]); stopped by the last one.
    pub upstream: Arc<FakeUpstream>,
    pub settings: Arc<Settings>,
    pub state: ProxyState,
    pub client: awc::Client,
    handle: ServerHandle,
    db: Arc<TestSqlite>,
    /// Deleted by the app that created it.
    redis: Option<RedisPrefix>,
    /// A peer's own data directory (event files).
    _data_dir: Option<tempfile::TempDir>,
}

/// An event sink that keeps every event in memory, for tests to read.
#[derive(Default)]
pub struct CollectingSink {
    events: Mutex<Vec<RequestEvent>>,
}

impl CollectingSink {
    pub fn events(&self) -> Vec<RequestEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for CollectingSink {
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        if let Ok(mut all) = self.events.lock() {
            all.extend(events);
        }
        Ok(BatchOutcome::default())
    }

    fn name(&self) -> &'static str {
        "collecting"
    }
}

/// A URL nothing listens on (a port that was just free).
pub fn closed_redis_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
    format!("redis://127.0.0.1:{port}")
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
    spawn_app_full(adjust, ProxyParts::default(), None).await
}

/// An app whose admission and session sequence numbers live on the shared test Redis, under a
/// key prefix of its own (deleted at `stop`).
pub async fn spawn_redis_app(
    adjust: impl FnOnce(&mut Settings, &FakeUpstream),
    parts: ProxyParts,
) -> TestApp {
    spawn_app_full(adjust, parts, Some(RedisPrefix::unique())).await
}

/// The general form: settings adjusted after the Redis prefix (if any) is applied, and the
/// parts (sink, admission, sequencer) the test wants to install.
pub async fn spawn_app_full(
    adjust: impl FnOnce(&mut Settings, &FakeUpstream),
    parts: ProxyParts,
    redis: Option<RedisPrefix>,
) -> TestApp {
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
    if let Some(prefix) = &redis {
        prefix.apply(&mut settings);
    }
    adjust(&mut settings, &upstream);
    let cipher = Cipher::new(&EncryptionKey::generate());
    let store: DynStore = Arc::new(db.store(cipher).await);
    let mut app = launch(settings, store, Arc::new(upstream), Arc::new(db), parts);
    app.redis = redis;
    app
}

fn launch(
    settings: Settings,
    store: DynStore,
    upstream: Arc<FakeUpstream>,
    db: Arc<TestSqlite>,
    parts: ProxyParts,
) -> TestApp {
    let settings = Arc::new(settings);
    let control = ControlBus::in_process();
    let app =
        match Application::build_with(Arc::clone(&settings), store.clone(), control.clone(), parts)
        {
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
        redis: None,
        _data_dir: None,
    }
}

impl TestApp {
    /// A second proxy node on its own port and control bus, sharing this app's store,
    /// upstream and settings (so the same Redis prefix), with its own data directory.
    pub fn spawn_peer(&self, parts: ProxyParts) -> TestApp {
        let data_dir = tempfile::Builder::new()
            .prefix("llmp_test_peer_")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a data dir: {e}"));
        let mut settings = (*self.settings).clone();
        settings.data_dir = data_dir.path().to_path_buf();
        let mut peer = launch(
            settings,
            self.store.clone(),
            Arc::clone(&self.upstream),
            Arc::clone(&self.db),
            parts,
        );
        peer._data_dir = Some(data_dir);
        peer
    }

    /// The server's handle (drain tests stop it themselves).
    pub fn server_handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn events_dir(&self) -> PathBuf {
        self.settings.events_dir()
    }

    pub async fn create_project(&self, name: &str) -> Project {
        self.create_project_with_rpm(name, None).await
    }

    pub async fn create_project_with_rpm(
        &self,
        name: &str,
        rate_limit_rpm: Option<u32>,
    ) -> Project {
        let keys = BTreeMap::from([
            ("openai".to_owned(), SecretString::new(OPENAI_KEY)),
            ("anthropic".to_owned(), SecretString::new(ANTHROPIC_KEY)),
        ]);
        let new = NewProject {
            name: name.to_owned(),
            provider_keys: keys,
            rate_limit_rpm,
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
        self.create_token_with_rpm(project_id, max_requests, expires_at, None)
            .await
    }

    pub async fn create_token_with_rpm(
        &self,
        project_id: uuid::Uuid,
        max_requests: Option<u64>,
        expires_at: Option<DateTime<Utc>>,
        rate_limit_rpm: Option<u32>,
    ) -> (TokenSecret, Token) {
        let secret = TokenSecret::generate();
        let new = NewToken {
            project_id,
            token_hash: secret.hash(),
            obfuscated: secret.obfuscated(),
            expires_at,
            max_requests,
            rate_limit_rpm,
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
        if let Some(prefix) = &self.redis {
            if let Err(e) = prefix.cleanup().await {
                eprintln!("cannot delete the test's Redis keys: {e}");
            }
        }
        if let Ok(upstream) = Arc::try_unwrap(self.upstream) {
            upstream.stop().await;
        }
        if let Ok(db) = Arc::try_unwrap(self.db) {
            db.remove();
        }
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
