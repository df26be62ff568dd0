//! A fake OpenAI/Anthropic upstream on a random port.
//!
//! It records every request it receives (method, path, query, headers, body) so tests can check
//! what crossed the gateway, and answers like the real APIs (VENDORS §4, §5):
//!
//! - `POST /v1/chat/completions`: a chat completion with `usage`, or with `"stream": true` an SSE
//!   stream of `chat.completion.chunk`s, a finish chunk, a usage chunk (only when the request
//!   has `stream_options.include_usage: true`, as OpenAI does) and `data: [DONE]`;
//! - `POST /v1/messages`: an Anthropic message, or its SSE stream (`message_start` …
//!   `message_delta` … `message_stop`);
//! - `GET /v1/models`: a model list; anything else: 200 with `{"method","path"}`.
//!
//! Scenarios are chosen per request with headers (the gateway forwards them):
//! `x-fake-status: 429` answers that status with the provider's error body; `x-fake-delay-ms`
//! waits before the response head; `x-fake-hang: 1` never answers; `x-fake-chunks: N` (default 3)
//! and `x-fake-interval-ms: M` (default 0) shape a stream; `x-fake-stall-after: K` stops sending
//! after K chunks without closing; `x-fake-hold-last: 1` holds the last chunk until
//! [`FakeUpstream::release`] is called; `x-fake-no-usage: 1` leaves usage out of every answer;
//! `x-fake-cache-control: V` and `x-fake-vary: V` answer with those `Cache-Control` and `Vary`.
//!
//! Failures that outlive one request: [`FakeUpstream::fail_next`] answers the next N requests
//! with an error status, [`FakeUpstream::set_failing`] every request until healed.
//!
//! ```ignore
//! let upstream = FakeUpstream::start().await;
//! // point a provider's base_url at upstream.base_url() …
//! let seen = upstream.requests();
//! upstream.stop().await;
//! ```

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub received_at: Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Whether `needle` appears anywhere: path, query, any header name or value, or the body.
    pub fn contains(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self.query.contains(needle)
            || self
                .headers
                .iter()
                .any(|(n, v)| n.contains(needle) || v.contains(needle))
            || String::from_utf8_lossy(&self.body).contains(needle)
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    release: Notify,
    streams_completed: AtomicUsize,
    streams_cancelled: AtomicUsize,
    hangs_cancelled: AtomicUsize,
    /// Every request answers this status while it is not 0.
    failing: AtomicU16,
    /// The next this many requests answer `fail_next_status`.
    fail_next: AtomicUsize,
    fail_next_status: AtomicU16,
}

/// Counts a hanging request whose handler was dropped (its client went away).
struct HangGuard(Arc<Shared>);

impl Drop for HangGuard {
    fn drop(&mut self) {
        self.0.hangs_cancelled.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts a stream as cancelled unless it reached its end.
struct StreamGuard {
    shared: Arc<Shared>,
    completed: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let counter = if self.completed {
            &self.shared.streams_completed
        } else {
            &self.shared.streams_cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct FakeUpstream {
    port: u16,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl FakeUpstream {
    /// Starts the server on `127.0.0.1:0` inside the current actix system.
    pub async fn start() -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener,
            Err(e) => panic!("fake upstream cannot bind: {e}"),
        };
        let port = match listener.local_addr() {
            Ok(addr) => addr.port(),
            Err(e) => panic!("fake upstream has no address: {e}"),
        };
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .h1_allow_half_closed(false)
        .disable_signals()
        .shutdown_timeout(1);
        let server = match server.listen(listener) {
            Ok(server) => server.run(),
            Err(e) => panic!("fake upstream cannot listen: {e}"),
        };
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            port,
            shared,
            handle,
        }
    }

    /// `http://127.0.0.1:<port>`: a provider `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`: an `allowed_upstreams` entry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Streams the fake sent to the end.
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::SeqCst)
    }

    /// Streams dropped before their end (the gateway closed the connection).
    pub fn streams_cancelled(&self) -> usize {
        self.shared.streams_cancelled.load(Ordering::SeqCst)
    }

    /// `x-fake-hang` requests whose client (the gateway) went away.
    pub fn hangs_cancelled(&self) -> usize {
        self.shared.hangs_cancelled.load(Ordering::SeqCst)
    }

    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Lets every stream held by `x-fake-hold-last` send its last chunk.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
        self.shared.release.notify_one();
    }

    /// Answers every request with `status` (`Some`) or heals (`None`).
    pub fn set_failing(&self, status: Option<u16>) {
        self.shared
            .failing
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status`, then heals by itself.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.fail_next_status.store(status, Ordering::SeqCst);
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn header_u64(req: &HttpRequest, name: &str) -> Option<u64> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn flag(req: &HttpRequest, name: &str) -> bool {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

async fn handle(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let recorded = RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        received_at: Instant::now(),
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(recorded);
    }
    if flag(&req, "x-fake-hang") {
        let _guard = HangGuard(shared.clone().into_inner());
        futures_util::future::pending::<()>().await;
    }
    if let Some(ms) = header_u64(&req, "x-fake-delay-ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let anthropic = req.path().ends_with("/messages");
    if let Some(status) = header_u64(&req, "x-fake-status") {
        return error_response(status as u16, anthropic);
    }
    let failing = shared.failing.load(Ordering::SeqCst);
    if failing != 0 {
        return error_response(failing, anthropic);
    }
    let scripted = shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if scripted.is_ok() {
        return error_response(shared.fail_next_status.load(Ordering::SeqCst), anthropic);
    }
    let mut response = answer(&req, &body, shared);
    for (fake, real) in [
        ("x-fake-cache-control", "cache-control"),
        ("x-fake-vary", "vary"),
    ] {
        if let Some(value) = req.headers().get(fake).cloned() {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(real),
                value,
            );
        }
    }
    response
}

fn answer(req: &HttpRequest, body: &Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let no_usage = flag(req, "x-fake-no-usage");
    let include_usage = !no_usage
        && json
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let streaming = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let chunks = header_u64(req, "x-fake-chunks").unwrap_or(3) as usize;
    let plan = StreamPlan {
        interval: Duration::from_millis(header_u64(req, "x-fake-interval-ms").unwrap_or(0)),
        stall_after: header_u64(req, "x-fake-stall-after").map(|k| k as usize),
        hold_last: flag(req, "x-fake-hold-last"),
        shared: shared.into_inner(),
    };
    let without_usage = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("usage");
        }
        v
    };
    match (req.path(), streaming) {
        (p, true) if p.ends_with("/chat/completions") => {
            let mut events = openai_events(&model, chunks);
            if !include_usage {
                events.retain(|e| !e.contains("\"choices\":[]"));
            }
            sse(events, plan)
        }
        (p, false) if p.ends_with("/chat/completions") => {
            let answer = openai_completion(&model, chunks);
            HttpResponse::Ok().json(if no_usage {
                without_usage(answer)
            } else {
                answer
            })
        }
        (p, true) if p.ends_with("/messages") => {
            let mut events = anthropic_events(&model, chunks);
            if no_usage {
                for event in &mut events {
                    *event = strip_anthropic_usage(event);
                }
            }
            sse(events, plan)
        }
        (p, false) if p.ends_with("/messages") => {
            let answer = anthropic_message(&model, chunks);
            HttpResponse::Ok().json(if no_usage {
                without_usage(answer)
            } else {
                answer
            })
        }
        ("/v1/models", _) => HttpResponse::Ok().json(json!({
            "object": "list",
            "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "fake"}]
        })),
        _ => HttpResponse::Ok().json(json!({"method": req.method().as_str(), "path": req.path()})),
    }
}

/// An Anthropic event without its `usage` objects.
fn strip_anthropic_usage(event: &str) -> String {
    let Some((head, data)) = event.split_once("data: ") else {
        return event.to_owned();
    };
    let Ok(mut v) = serde_json::from_str::<Value>(data.trim_end()) else {
        return event.to_owned();
    };
    if let Some(o) = v.as_object_mut() {
        o.remove("usage");
    }
    if let Some(o) = v.get_mut("message").and_then(Value::as_object_mut) {
        o.remove("usage");
    }
    format!("{head}data: {v}\n\n")
}

fn error_response(status: u16, anthropic: bool) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    let body = if anthropic {
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "fake upstream error"}, "request_id": "req_fake"})
    } else {
        json!({"error": {"message": "fake upstream error", "type": "requests", "code": "fake_error", "param": null}})
    };
    HttpResponse::build(status)
        .insert_header(("x-fake-upstream", "1"))
        .json(body)
}

fn openai_completion(model: &str, tokens: usize) -> Value {
    let text: String = (0..tokens).map(|i| format!("tok{i} ")).collect();
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1763805600, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}
    })
}

fn anthropic_message(model: &str, tokens: usize) -> Value {
    let text: String = (0..tokens).map(|i| format!("tok{i} ")).collect();
    json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": tokens}
    })
}

/// The SSE events of an OpenAI chat stream, one string per chunk the fake sends.
pub fn openai_events(model: &str, tokens: usize) -> Vec<String> {
    let chunk = |delta: Value, finish: Value, usage: Value, choices: bool| {
        let choices = if choices {
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
        } else {
            json!([])
        };
        let v = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1763805600,
                       "model": model, "choices": choices, "usage": usage});
        format!("data: {v}\n\n")
    };
    let mut out: Vec<String> = (0..tokens)
        .map(|i| {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": format!("tok{i} ")})
            } else {
                json!({"content": format!("tok{i} ")})
            };
            chunk(delta, Value::Null, Value::Null, true)
        })
        .collect();
    out.push(chunk(json!({}), json!("stop"), Value::Null, true));
    out.push(chunk(
        Value::Null,
        Value::Null,
        json!({"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}),
        false,
    ));
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// The SSE events of an Anthropic Messages stream.
pub fn anthropic_events(model: &str, tokens: usize) -> Vec<String> {
    let event = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    let mut out = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null,
               "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    )];
    out.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    for i in 0..tokens {
        out.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("tok{i} ")}}),
        ));
    }
    out.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": tokens}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}

struct StreamPlan {
    interval: Duration,
    stall_after: Option<usize>,
    hold_last: bool,
    shared: Arc<Shared>,
}

fn sse(events: Vec<String>, plan: StreamPlan) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(paced(events, plan))
}

fn paced(
    events: Vec<String>,
    plan: StreamPlan,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let last = events.len().saturating_sub(1);
    let guard = StreamGuard {
        shared: Arc::clone(&plan.shared),
        completed: false,
    };
    stream::unfold(
        (events.into_iter().enumerate(), plan, guard),
        move |(mut events, plan, mut guard)| async move {
            let Some((i, event)) = events.next() else {
                guard.completed = true;
                drop(guard);
                return None;
            };
            if plan.stall_after.is_some_and(|k| i >= k) {
                futures_util::future::pending::<()>().await;
            }
            if i > 0 && !plan.interval.is_zero() {
                tokio::time::sleep(plan.interval).await;
            }
            if plan.hold_last && i == last {
                plan.shared.release.notified().await;
            }
            Some((Ok(Bytes::from(event)), (events, plan, guard)))
        },
    )
}
