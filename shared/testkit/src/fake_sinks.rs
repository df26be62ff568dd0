//! Fake Loki, Lunary and Helicone servers on random ports (VENDORS §1–§3).
//!
//! Each checks every request against the vendor's documented wire format (path, method,
//! content type, gzip, auth header, required fields) and answers like the vendor: a request
//! that breaks the format is rejected (400/401/500 as the vendor would) and recorded in
//! [`FakeSink::rejections`]; an accepted one is recorded (decoded) in [`FakeSink::accepted`].
//! Tests can make a fake fail ([`FakeMode::Fail`]), answer 200 with an error body
//! ([`FakeMode::ErrorIn200`], Helicone's habit), hang ([`FakeMode::Hang`]), store a request
//! and then hang ([`FakeMode::AcceptThenHang`]) or recover
//! ([`FakeSink::recover`]).
//!
//! ```ignore
//! let loki = FakeSink::loki().await;
//! // settings.sinks.loki.url = loki.url(); …
//! loki.set_mode(FakeMode::Fail { status: 503, remaining: Some(3) });
//! assert_eq!(loki.loki_entries().len(), 10);
//! loki.stop().await;
//! ```

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use chrono::Utc;
use llm_proxy_core::event::{
    BodyRecord, CacheStatus, ClientInfo, RequestEvent, SessionInfo, Termination, Usage,
    SCHEMA_VERSION,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// The key the fake Lunary accepts (Lunary keys are UUIDs).
pub const LUNARY_TEST_KEY: &str = "0b5e8c1e-7d2a-4c1b-9a55-3f4e2d1c0b9a";
/// The key the fake Helicone accepts.
pub const HELICONE_TEST_KEY: &str = "sk-helicone-test-0123456789abcdef";
/// Loki's default `max_line_size`.
pub const LOKI_MAX_LINE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Loki,
    Lunary,
    Helicone,
}

/// How the fake answers requests that pass validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeMode {
    /// Accept (Loki 204, Lunary 200 with results, Helicone 200 `ok`).
    Ok,
    /// Answer `status`; for the next `remaining` requests (then back to `Ok`), or forever.
    Fail {
        status: u16,
        remaining: Option<usize>,
    },
    /// 200 with `{"error": …}` (Helicone when storing failed downstream).
    ErrorIn200,
    /// Never answer until the mode changes.
    Hang,
    /// Validate and record the request as accepted, then answer only once the mode changes: a
    /// vendor that stored a batch whose answer never reached the sender.
    AcceptThenHang,
}

/// A request the fake turned away for breaking the format.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

/// An accepted request: its headers (lower-case names) and decoded JSON body.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Accepted {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    vendor: Vendor,
    mode: Mutex<FakeMode>,
    accepted: Mutex<Vec<Accepted>>,
    rejections: Mutex<Vec<Rejection>>,
    requests: AtomicUsize,
    /// Loki: required `X-Scope-OrgID`; others: unused.
    tenant: Mutex<Option<String>>,
    /// Loki: required `Authorization` value.
    auth: Mutex<Option<String>>,
    /// Lunary: run ids answered with `success: false`.
    reject_runs: Mutex<Vec<String>>,
}

pub struct FakeSink {
    shared: Arc<Shared>,
    port: u16,
    handle: ServerHandle,
}

impl std::fmt::Debug for FakeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSink")
            .field("vendor", &self.shared.vendor)
            .field("port", &self.port)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeSink {
    pub async fn loki() -> Self {
        Self::start(Vendor::Loki).await
    }

    pub async fn lunary() -> Self {
        Self::start(Vendor::Lunary).await
    }

    pub async fn helicone() -> Self {
        Self::start(Vendor::Helicone).await
    }

    /// Starts the server on `127.0.0.1:0`; call inside an actix `System`.
    pub async fn start(vendor: Vendor) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("fake sink cannot bind: {e}"),
        };
        let port = match listener.local_addr() {
            Ok(a) => a.port(),
            Err(e) => panic!("fake sink has no address: {e}"),
        };
        let shared = Arc::new(Shared {
            vendor,
            mode: Mutex::new(FakeMode::Ok),
            accepted: Mutex::new(Vec::new()),
            rejections: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            tenant: Mutex::new(None),
            auth: Mutex::new(None),
            reject_runs: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1);
        let server = match server.listen(listener) {
            Ok(s) => s.run(),
            Err(e) => panic!("fake sink cannot listen: {e}"),
        };
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            shared,
            port,
            handle,
        }
    }

    /// Base URL (`http://127.0.0.1:<port>`), what goes in `sinks.<name>.url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: FakeMode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Back to accepting (also releases hanging requests).
    pub fn recover(&self) {
        self.set_mode(FakeMode::Ok);
    }

    /// Loki: require this `X-Scope-OrgID`.
    pub fn require_tenant(&self, tenant: &str) {
        *lock(&self.shared.tenant) = Some(tenant.to_owned());
    }

    /// Loki: require this exact `Authorization` value.
    pub fn require_authorization(&self, value: &str) {
        *lock(&self.shared.auth) = Some(value.to_owned());
    }

    /// Lunary: answer `success: false` for this run id.
    pub fn reject_run(&self, run_id: &str) {
        lock(&self.shared.reject_runs).push(run_id.to_owned());
    }

    /// Every request that reached the fake, accepted or not.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        lock(&self.shared.accepted).clone()
    }

    pub fn rejections(&self) -> Vec<Rejection> {
        lock(&self.shared.rejections).clone()
    }

    /// Loki: every accepted `(labels, [ts, line, …])` entry.
    pub fn loki_entries(&self) -> Vec<(Value, Value)> {
        self.accepted()
            .into_iter()
            .flat_map(|a| {
                a.body["streams"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|s| {
                        let labels = s["stream"].clone();
                        s["values"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(move |v| (labels.clone(), v))
                    })
            })
            .collect()
    }

    /// Lunary: every accepted run event.
    pub fn lunary_events(&self) -> Vec<Value> {
        self.accepted()
            .into_iter()
            .flat_map(|a| match &a.body["events"] {
                Value::Array(events) => events.clone(),
                other => vec![other.clone()],
            })
            .collect()
    }

    /// Helicone: every accepted log body.
    pub fn helicone_logs(&self) -> Vec<Value> {
        self.accepted().into_iter().map(|a| a.body).collect()
    }

    /// Polls until `check` holds or `timeout` passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, check: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if check(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(self) {
        self.recover();
        self.handle.stop(false).await;
    }
}

fn reject(shared: &Shared, status: u16, reason: String) -> HttpResponse {
    lock(&shared.rejections).push(Rejection {
        status,
        reason: reason.clone(),
    });
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    match shared.vendor {
        Vendor::Loki => HttpResponse::build(status)
            .content_type("text/plain")
            .body(reason),
        _ => HttpResponse::build(status).json(json!({ "error": reason, "message": reason })),
    }
}

fn headers(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn handle(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    // Scripted behaviour first (a down server does not validate).
    loop {
        let mode = *lock(&shared.mode);
        match mode {
            FakeMode::Hang => tokio::time::sleep(Duration::from_millis(25)).await,
            FakeMode::Fail { status, remaining } => {
                if let Some(n) = remaining {
                    *lock(&shared.mode) = if n <= 1 {
                        FakeMode::Ok
                    } else {
                        FakeMode::Fail {
                            status,
                            remaining: Some(n - 1),
                        }
                    };
                }
                let status = actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE);
                return HttpResponse::build(status).body("scripted failure");
            }
            FakeMode::ErrorIn200 => {
                return HttpResponse::Ok().json(json!({"error": "storing the log failed"}));
            }
            FakeMode::Ok | FakeMode::AcceptThenHang => break,
        }
    }
    if req.method() != actix_web::http::Method::POST {
        return reject(&shared, 405, format!("method {} not allowed", req.method()));
    }
    let result = match shared.vendor {
        Vendor::Loki => validate_loki(&req, &body, &shared),
        Vendor::Lunary => validate_lunary(&req, &body, &shared),
        Vendor::Helicone => validate_helicone(&req, &body),
    };
    match result {
        Err((status, reason)) => reject(&shared, status, reason),
        Ok((value, response)) => {
            lock(&shared.accepted).push(Accepted {
                headers: headers(&req),
                body: value,
            });
            while *lock(&shared.mode) == FakeMode::AcceptThenHang {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            response
        }
    }
}

type Checked = Result<(Value, HttpResponse), (u16, String)>;

fn bad(reason: impl Into<String>) -> (u16, String) {
    (400, reason.into())
}

// ---- Loki (VENDORS §1) ----

fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn validate_loki(req: &HttpRequest, body: &Bytes, shared: &Shared) -> Checked {
    if req.path() != "/loki/api/v1/push" {
        return Err((404, format!("404 page not found: {}", req.path())));
    }
    let content_type = header(req, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(bad("snappy: corrupt input (not a JSON content type)"));
    }
    if let Some(tenant) = lock(&shared.tenant).clone() {
        match header(req, "x-scope-orgid") {
            None => return Err((401, "no org id".to_owned())),
            Some(t) if t != tenant => return Err((401, format!("unknown tenant {t}"))),
            Some(_) => {}
        }
    }
    if let Some(auth) = lock(&shared.auth).clone() {
        if header(req, "authorization") != Some(auth.as_str()) {
            return Err((401, "unauthorized".to_owned()));
        }
    }
    let raw = match header(req, "content-encoding") {
        None | Some("") => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("gzip: {e}")))?;
            out
        }
        Some(other) => return Err(bad(format!("Content-Encoding {other} not supported"))),
    };
    let value: Value = serde_json::from_slice(&raw).map_err(|e| bad(format!("bad JSON: {e}")))?;
    let streams = value["streams"]
        .as_array()
        .ok_or_else(|| bad("missing streams"))?;
    for stream in streams {
        let labels = stream["stream"]
            .as_object()
            .ok_or_else(|| bad("stream without labels"))?;
        if labels.is_empty() {
            return Err(bad("missing_labels"));
        }
        if labels.len() > 15 {
            return Err(bad("too many labels"));
        }
        for (name, v) in labels {
            if !label_name_ok(name) {
                return Err(bad(format!("invalid_labels: {name}")));
            }
            match v.as_str() {
                Some(s) if s.len() <= 2048 => {}
                _ => return Err(bad(format!("invalid label value for {name}"))),
            }
        }
        let values = stream["values"]
            .as_array()
            .ok_or_else(|| bad("stream without values"))?;
        for entry in values {
            let entry = entry
                .as_array()
                .ok_or_else(|| bad("entry is not an array"))?;
            if entry.len() != 2 && entry.len() != 3 {
                return Err(bad("entry must have 2 or 3 elements"));
            }
            match entry[0].as_str() {
                Some(ts) if !ts.is_empty() && ts.chars().all(|c| c.is_ascii_digit()) => {}
                _ => return Err(bad("timestamp must be a string of epoch nanoseconds")),
            }
            let line = entry[1]
                .as_str()
                .ok_or_else(|| bad("line is not a string"))?;
            if line.len() > LOKI_MAX_LINE_BYTES {
                return Err(bad(format!(
                    "line_too_long: {} bytes, limit {LOKI_MAX_LINE_BYTES}",
                    line.len()
                )));
            }
            if let Some(meta) = entry.get(2) {
                let flat = meta
                    .as_object()
                    .is_some_and(|m| m.values().all(Value::is_string));
                if !flat {
                    return Err(bad("structured metadata must be a flat string map"));
                }
            }
        }
    }
    Ok((value, HttpResponse::NoContent().finish()))
}

// ---- Lunary (VENDORS §2) ----

const LUNARY_TYPES: &[&str] = &[
    "llm",
    "chain",
    "agent",
    "tool",
    "log",
    "embed",
    "retriever",
    "thread",
    "message",
    "chat",
    "convo",
];
const LUNARY_EVENTS: &[&str] = &[
    "start",
    "end",
    "error",
    "feedback",
    "update",
    "chat",
    "custom-event",
];

fn validate_lunary(req: &HttpRequest, body: &Bytes, shared: &Shared) -> Checked {
    if req.path() != "/v1/runs/ingest" {
        return Err((404, format!("not found: {}", req.path())));
    }
    let key = header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| header(req, "x-api-key"));
    match key {
        Some(k) if k == LUNARY_TEST_KEY => {}
        Some(k) if Uuid::parse_str(k).is_err() => {
            return Err((402, "Incorrect project id format".to_owned()))
        }
        _ => return Err((401, "This project does not exist".to_owned())),
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON: {e}")))?;
    let events = match value.get("events") {
        Some(Value::Array(events)) => events.clone(),
        Some(event @ Value::Object(_)) => vec![event.clone()],
        _ => return Err((500, "Missing events payload.".to_owned())),
    };
    let rejected_runs = lock(&shared.reject_runs).clone();
    let mut results = Vec::new();
    for event in &events {
        let kind = event["type"].as_str().unwrap_or_default();
        if !LUNARY_TYPES.contains(&kind) {
            return Err((422, format!("invalid type {kind:?}")));
        }
        let name = event["event"].as_str().unwrap_or_default();
        if kind != "log" && !LUNARY_EVENTS.contains(&name) {
            return Err((422, format!("invalid event {name:?}")));
        }
        let run_id = event["runId"]
            .as_str()
            .ok_or_else(|| (422, "runId is required".to_owned()))?;
        let ts = event["timestamp"]
            .as_str()
            .ok_or_else(|| (422, "timestamp is required".to_owned()))?;
        chrono::DateTime::parse_from_rfc3339(ts)
            .map_err(|_| (422, format!("timestamp {ts:?} is not ISO-8601")))?;
        if name == "end" {
            if let Some(usage) = event.get("tokensUsage") {
                if !usage.is_object() {
                    return Err((422, "tokensUsage must be an object".to_owned()));
                }
            }
        }
        if let Some(tags) = event.get("tags") {
            if !(tags.is_string()
                || tags
                    .as_array()
                    .is_some_and(|t| t.iter().all(Value::is_string)))
            {
                return Err((422, "tags must be strings".to_owned()));
            }
        }
        if rejected_runs.iter().any(|r| r == run_id) {
            results.push(json!({"id": run_id, "success": false, "error": "rejected by the fake"}));
        } else {
            results.push(json!({"id": run_id, "success": true}));
        }
    }
    Ok((
        value,
        HttpResponse::Ok().json(json!({ "results": results })),
    ))
}

// ---- Helicone (VENDORS §3) ----

fn helicone_time(timing: &Value, name: &str) -> Result<i64, (u16, String)> {
    let t = &timing[name];
    match (t["seconds"].as_i64(), t["milliseconds"].as_i64()) {
        (Some(s), Some(ms)) if s >= 0 && ms >= 0 => Ok(s * 1000 + ms),
        _ => Err(bad(format!(
            "timing.{name} must have non-negative seconds and milliseconds"
        ))),
    }
}

fn validate_helicone(req: &HttpRequest, body: &Bytes) -> Checked {
    if req.path() != "/custom/v1/log" {
        return Err((404, format!("not found: {}", req.path())));
    }
    match header(req, "authorization") {
        None => return Err((401, "Unauthorized".to_owned())),
        Some(v) if v != format!("Bearer {HELICONE_TEST_KEY}") => {
            return Err((401, "invalid API key".to_owned()))
        }
        Some(_) => {}
    }
    if !header(req, "content-type")
        .unwrap_or_default()
        .starts_with("application/json")
    {
        return Err(bad("content-type must be application/json"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON: {e}")))?;
    let request = &value["providerRequest"];
    let response = &value["providerResponse"];
    let timing = &value["timing"];
    if !request.is_object() || !response.is_object() || !timing.is_object() {
        return Err(bad(
            "providerRequest, providerResponse and timing are required",
        ));
    }
    if !request["url"].is_string() {
        return Err(bad("providerRequest.url must be a string"));
    }
    if !request["meta"].is_object() {
        return Err(bad("providerRequest.meta must be an object"));
    }
    if request.get("json").is_none_or(Value::is_null) {
        return Err(bad("providerRequest.json is required"));
    }
    if response.get("json").is_none_or(Value::is_null) {
        return Err(bad("providerResponse.json is required"));
    }
    if !response["status"].is_number() {
        return Err(bad("providerResponse.status must be a number"));
    }
    if !response["headers"].is_object() {
        return Err(bad("providerResponse.headers must be an object"));
    }
    let start = helicone_time(timing, "startTime")?;
    let end = helicone_time(timing, "endTime")?;
    if start > end {
        return Err(bad("timing.startTime is after timing.endTime"));
    }
    let id = Uuid::new_v4().to_string();
    Ok((
        value,
        HttpResponse::Ok()
            .insert_header(("helicone-id", id))
            .body("ok"),
    ))
}

/// A plausible event for tests: a chat completion with usage, a session and a project.
pub fn sample_event() -> RequestEvent {
    RequestEvent {
        id: Uuid::now_v7(),
        schema_version: SCHEMA_VERSION,
        occurred_at: Utc::now(),
        request_id: format!("req-{}", Uuid::new_v4().simple()),
        node: "test-node".into(),
        project_id: Some(Uuid::new_v4()),
        token_id: Some(Uuid::new_v4()),
        provider: "openai".into(),
        upstream: "api.openai.com".into(),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        model: Some("gpt-4o-mini".into()),
        status: 200,
        stream: false,
        duration_ms: 1250.0,
        ttfb_ms: Some(150.0),
        upstream_ms: Some(1200.0),
        usage: Some(Usage {
            prompt_tokens: Some(10),
            completion_tokens: Some(5),
            total_tokens: Some(15),
            cached_tokens: Some(0),
            estimated: false,
        }),
        finish_reason: Some("stop".into()),
        termination: Termination::Eof,
        disconnect: None,
        error_code: None,
        cache: CacheStatus::Bypass,
        attempts: 1,
        session: SessionInfo {
            id: format!("sess-{}", Uuid::new_v4().simple()),
            source: "x-session-id".into(),
            seq: 1,
            lineage: None,
            parent_seq: None,
            turn: None,
        },
        client: ClientInfo {
            ip: Some("127.0.0.1".into()),
            user_agent: Some("test".into()),
        },
        request: BodyRecord {
            headers: serde_json::Map::new(),
            body: json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).into(),
            truncated: false,
        },
        response: BodyRecord {
            headers: serde_json::Map::from_iter([(
                "content-type".to_owned(),
                json!("application/json"),
            )]),
            body: json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            })
            .into(),
            truncated: false,
        },
    }
}
