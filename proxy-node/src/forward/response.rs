//! The upstream's answer on its way to the client: forwarded chunk by chunk as it arrives (never
//! buffered), with a bounded copy teed off for the event (SSE parsed incrementally), an idle
//! timeout between chunks and no total-time limit. When the body ends — normally, by error,
//! by timeout or because the client went away (drop) — exactly one event is recorded. On the
//! way the usage chunk the gateway asked for is dropped ([`UsageChunkFilter`]) and a copy of
//! what the client got is kept for the response cache ([`Recorder`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpResponse};
use awc::error::PayloadError;
use awc::ClientResponse;
use bytes::Bytes;
use futures_util::Stream;
use llm_proxy_core::budget::DisconnectPolicy;
use llm_proxy_core::event::{BodyRecord, CacheStatus, RecordedBody, Termination};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::{ApiError, ErrorFlavor};
use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use crate::actors::event_log::EventLogHandle;
use crate::budget::{self, meter::BudgetMeter};
use crate::cache::{self, Lookup, Recorder, ResponseCache};
use crate::events::{Exchange, Outcome};
use crate::forward::headers;
use crate::metrics::Metrics;
use crate::redact;
use crate::sse::SseParser;
use crate::usage::estimate::estimate;
use crate::usage::strip::UsageChunkFilter;
use crate::usage::{facts_from_json, ResponseFacts};

/// Non-stream bodies up to this size are parsed for usage even when the record is capped lower.
const PARSE_LIMIT: usize = 1024 * 1024;

type PayloadStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// What finishing a response needs.
#[derive(Clone)]
pub struct Finisher {
    pub flavor: ErrorFlavor,
    pub events: EventLogHandle,
    pub metrics: Arc<Metrics>,
    pub body_cap: usize,
    pub idle_timeout: Duration,
}

/// What the event records beyond the exchange and its outcome.
#[derive(Debug, Clone, Default)]
pub struct CallNotes {
    pub cache: Option<CacheStatus>,
    /// Requests sent upstream.
    pub attempts: u32,
    /// The request body, for counting tokens when the upstream reports no usage (set only on
    /// generation endpoints).
    pub estimate_from: Option<Bytes>,
}

impl Finisher {
    /// Records the event and the request metrics of one finished call.
    pub fn record(&self, exchange: Exchange, outcome: Outcome) {
        self.record_call(exchange, outcome, CallNotes::default());
    }

    /// As [`Self::record`], with the cache status, the attempts and, when the answer carried
    /// no usage, the tokens counted off the request path.
    pub fn record_call(&self, exchange: Exchange, outcome: Outcome, mut notes: CallNotes) {
        let needs_estimate = outcome.facts.usage.is_none()
            && (200..300).contains(&outcome.status)
            && notes.estimate_from.is_some();
        let handle = tokio::runtime::Handle::try_current();
        match (needs_estimate, handle) {
            (true, Ok(handle)) => {
                let finisher = self.clone();
                let ended = Instant::now();
                handle.spawn_blocking(move || {
                    let mut outcome = outcome;
                    let request = notes.estimate_from.take().unwrap_or_default();
                    let model = outcome.facts.model.clone().or(exchange.model.clone());
                    outcome.facts.usage = Some(estimate(
                        &request,
                        &outcome.response.body.value(),
                        model.as_deref(),
                    ));
                    finisher.metrics.usage_estimated();
                    finisher.record_now(exchange, outcome, notes, ended);
                });
            }
            _ => self.record_now(exchange, outcome, notes, Instant::now()),
        }
    }

    fn record_now(&self, mut exchange: Exchange, outcome: Outcome, notes: CallNotes, now: Instant) {
        if let Some(reservation) = exchange.budget.take() {
            let upstream_used = notes.cache != Some(CacheStatus::Hit);
            reservation.settle(outcome.facts.usage.as_ref().filter(|_| upstream_used));
        }
        let provider = if exchange.provider.is_empty() {
            "none".to_owned()
        } else {
            exchange.provider.clone()
        };
        let mut event = exchange.into_event(outcome, now);
        event.cache = notes.cache.unwrap_or(CacheStatus::Bypass);
        event.attempts = notes.attempts;
        self.metrics
            .request_done(&provider, event.status, event.duration_ms / 1000.0);
        tracing::info!(
            request_id = %event.request_id,
            provider = %provider,
            project_id = ?event.project_id,
            token_id = ?event.token_id,
            method = %event.method,
            path = %event.path,
            status = event.status,
            duration_ms = event.duration_ms,
            termination = ?event.termination,
            error_code = event.error_code.as_deref().unwrap_or(""),
            "request"
        );
        self.events.record(event);
    }
}

#[derive(Default)]
pub(crate) struct Capture {
    sse: Option<SseParser>,
    buf: Vec<u8>,
    keep: usize,
    total: usize,
}

impl Capture {
    pub(crate) fn new(is_sse: bool, body_cap: usize) -> Self {
        Self {
            sse: is_sse.then(|| SseParser::new(body_cap)),
            buf: Vec::new(),
            keep: body_cap.max(PARSE_LIMIT),
            total: 0,
        }
    }

    pub(crate) fn observe(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        if let Some(parser) = &mut self.sse {
            parser.feed(bytes);
        } else if self.buf.len() < self.keep {
            let room = self.keep - self.buf.len();
            self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    pub(crate) fn finish(self, body_cap: usize) -> (ResponseFacts, RecordedBody, bool) {
        if let Some(parser) = self.sse {
            let summary = parser.finish();
            let body = RecordedBody::from_value(&summary.record_body());
            return (summary.facts, body, summary.text_truncated);
        }
        let whole = self.total == self.buf.len() && !self.buf.is_empty();
        let parsed = whole
            .then(|| serde_json::from_slice::<Value>(&self.buf).ok())
            .flatten();
        let facts = parsed.as_ref().map(facts_from_json).unwrap_or_default();
        match parsed {
            // The record is the same redacted JSON, without parsing the body a second time.
            Some(json) if self.buf.len() <= body_cap => {
                (facts, redact::parsed_body(&self.buf, &json, None), false)
            }
            _ => {
                let (body, truncated) = redact::body(&self.buf, self.total, body_cap, None);
                (facts, body, truncated)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body failed: {0}")]
    Upstream(String),
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
}

struct Pending {
    exchange: Exchange,
    status: u16,
    headers: Map<String, Value>,
    notes: CallNotes,
}

pub struct UpstreamBody {
    stream: PayloadStream,
    is_sse: bool,
    /// Set after the idle timeout's error event was sent: the next poll ends the body.
    ended: bool,
    /// The upstream body ended; what the filter still holds goes out, then the event.
    upstream_done: bool,
    filter: Option<UsageChunkFilter>,
    recorder: Option<Recorder>,
    /// The provider's concurrency slot, freed with the body.
    _permit: Option<OwnedSemaphorePermit>,
    size: BodySize,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    capture: Capture,
    pending: Option<Pending>,
    finisher: Finisher,
    /// The client went away and this policy was applied.
    disconnected: Option<DisconnectPolicy>,
}

impl UpstreamBody {
    fn finish(&mut self, termination: Termination, error_code: Option<&str>) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        let cut = pending
            .exchange
            .budget
            .as_ref()
            .is_some_and(|b| b.was_cut());
        let termination = match (self.disconnected, cut) {
            (Some(_), _) => Termination::ClientCancel,
            (None, true) => Termination::Budget,
            (None, false) => termination,
        };
        pending.exchange.disconnect = self.disconnected;
        let capture = std::mem::take(&mut self.capture);
        let (facts, body, truncated) = capture.finish(self.finisher.body_cap);
        let mut notes = pending.notes;
        if let Some(recorder) = self.recorder.take() {
            let eof = termination == Termination::Eof;
            if recorder.finish(eof, facts.error) {
                notes.cache = Some(CacheStatus::Stored);
            }
        }
        let outcome = Outcome {
            status: pending.status,
            termination,
            error_code: error_code.map(str::to_owned),
            response: BodyRecord {
                headers: pending.headers,
                body,
                truncated,
            },
            facts,
        };
        self.finisher.record_call(pending.exchange, outcome, notes);
    }

    fn provider(&self) -> String {
        self.pending
            .as_ref()
            .map(|p| p.exchange.provider.clone())
            .unwrap_or_default()
    }
}

impl MessageBody for UpstreamBody {
    type Error = BodyError;

    fn size(&self) -> BodySize {
        self.size
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.pending.is_none() || this.ended {
            return Poll::Ready(None);
        }
        loop {
            if this.upstream_done {
                if let Some(mut filter) = this.filter.take() {
                    let rest = filter.finish();
                    if !rest.is_empty() {
                        this.deliver(&rest);
                        return Poll::Ready(Some(Ok(rest)));
                    }
                }
                this.finish(Termination::Eof, None);
                return Poll::Ready(None);
            }
            return match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) if bytes.is_empty() => continue,
                Poll::Ready(Some(Ok(bytes))) => {
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                    this.capture.observe(&bytes);
                    let out = match &mut this.filter {
                        Some(filter) => filter.push(&bytes),
                        None => bytes,
                    };
                    if out.is_empty() {
                        continue;
                    }
                    this.deliver(&out);
                    Poll::Ready(Some(Ok(out)))
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finisher
                        .metrics
                        .upstream_error(&this.provider(), "body");
                    this.finish(Termination::UpstreamError, Some("upstream_error"));
                    Poll::Ready(Some(Err(BodyError::Upstream(e.to_string()))))
                }
                Poll::Ready(None) => {
                    this.upstream_done = true;
                    continue;
                }
                Poll::Pending => {
                    if this.idle_timer.as_mut().poll(cx).is_ready() {
                        this.finisher
                            .metrics
                            .upstream_error(&this.provider(), "idle_timeout");
                        this.finish(Termination::Timeout, Some("upstream_timeout"));
                        if this.is_sse {
                            // SDKs raise on an error event; a bare close would look complete.
                            this.ended = true;
                            Poll::Ready(Some(Ok(idle_error_event(this.finisher.flavor))))
                        } else {
                            Poll::Ready(Some(Err(BodyError::Idle(this.idle))))
                        }
                    } else {
                        Poll::Pending
                    }
                }
            };
        }
    }
}

impl UpstreamBody {
    /// Bytes on their way to the client.
    fn deliver(&mut self, bytes: &[u8]) {
        if let Some(recorder) = &mut self.recorder {
            recorder.observe(bytes);
        }
    }
}

impl UpstreamBody {
    /// Everything of this body, moved into a new one that goes on reading the upstream.
    fn detach(&mut self) -> Self {
        Self {
            stream: std::mem::replace(&mut self.stream, Box::pin(futures_util::stream::empty())),
            is_sse: self.is_sse,
            ended: self.ended,
            upstream_done: self.upstream_done,
            filter: self.filter.take(),
            recorder: self.recorder.take(),
            _permit: self._permit.take(),
            size: self.size,
            idle: self.idle,
            idle_timer: std::mem::replace(
                &mut self.idle_timer,
                Box::pin(tokio::time::sleep(Duration::ZERO)),
            ),
            capture: std::mem::take(&mut self.capture),
            pending: self.pending.take(),
            finisher: self.finisher.clone(),
            disconnected: Some(DisconnectPolicy::Drain),
        }
    }
}

impl Drop for UpstreamBody {
    /// The client went away before the end: under the project's `cancel` policy the upstream
    /// connection is dropped with us; under `drain` it is read to the end first.
    fn drop(&mut self) {
        let Some(pending) = &self.pending else {
            return;
        };
        let drain = pending.exchange.on_disconnect == DisconnectPolicy::Drain
            && self.disconnected.is_none()
            && !self.ended
            && budget::drain::available();
        if drain {
            budget::drain::spawn(self.detach());
            return;
        }
        self.disconnected.get_or_insert(DisconnectPolicy::Cancel);
        self.finish(Termination::ClientCancel, None);
    }
}

/// The SSE error event a client gets when the upstream went silent mid-stream, in the
/// provider's flavor (OpenAI: a `data:` line with `error`; Anthropic: `event: error`).
fn idle_error_event(flavor: ErrorFlavor) -> Bytes {
    let error = ApiError::new(
        ErrorCode::UpstreamTimeout,
        "The upstream stopped sending before the answer was complete.",
    )
    .with_flavor(flavor);
    let text = match flavor {
        ErrorFlavor::OpenAi => format!("data: {}\n\n", error.body()),
        ErrorFlavor::Anthropic => format!("event: error\ndata: {}\n\n", error.body()),
    };
    Bytes::from(text)
}

pub fn is_event_stream(headers: &awc::http::header::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// How the response cache takes part in an upstream answer.
pub enum CacheWrite {
    /// Disabled: no cache headers.
    Off,
    /// Not cacheable: `X-Proxy-Cache: bypass`.
    Bypass(&'static str),
    /// Looked up (or asked to be refreshed) and not found: maybe stored.
    Miss {
        cache: ResponseCache,
        lookup: Arc<Lookup>,
        vary_miss: bool,
    },
}

/// Everything about the answer besides the upstream response and the exchange.
pub struct Back {
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    pub head_request: bool,
    /// Drop the usage chunk the gateway asked for.
    pub strip_usage: bool,
    pub cache: CacheWrite,
    pub notes: CallNotes,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The client's response: upstream status and headers, our headers, and the streamed body.
pub fn stream_back(
    mut upstream: ClientResponse,
    mut exchange: Exchange,
    back: Back,
    finisher: Finisher,
) -> HttpResponse {
    let Back {
        extra_headers,
        head_request,
        strip_usage,
        cache,
        mut notes,
        permit,
    } = back;
    let status = upstream.status();
    let is_sse = is_event_stream(upstream.headers());
    exchange.stream |= is_sse;
    let mut response = HttpResponse::build(status);
    for (name, value) in headers::downstream_response(upstream.headers()) {
        if name == "x-request-id" {
            response.append_header((HeaderName::from_static("x-upstream-request-id"), value));
        } else {
            response.append_header((name, value));
        }
    }
    for (name, value) in extra_headers {
        response.insert_header((name, value));
    }
    let recorded_headers = redact::headers(upstream.headers(), None);
    let length: Option<u64> = upstream
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let no_body = head_request
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
        || length == Some(0);
    let recorder = match cache {
        CacheWrite::Off => None,
        CacheWrite::Bypass(reason) => {
            for (name, value) in cache::status::bypass(reason) {
                response.insert_header((name, value));
            }
            notes.cache = Some(CacheStatus::Bypass);
            None
        }
        CacheWrite::Miss {
            cache,
            lookup,
            vary_miss,
        } => {
            let recorder = if no_body {
                None
            } else {
                cache.recorder(
                    Arc::clone(&lookup),
                    status.as_u16(),
                    upstream.headers(),
                    is_sse,
                    length,
                )
            };
            let stored = recorder.is_some();
            let headers = if lookup.lookup {
                cache::status::miss(&lookup.primary, status.as_u16(), vary_miss, stored)
            } else {
                cache::status::refreshed(&lookup.primary, status.as_u16(), stored)
            };
            for (name, value) in headers {
                response.insert_header((name, value));
            }
            if let Some(metrics) = cache.metrics() {
                metrics.cache_result(if stored { "stored" } else { "miss" });
            }
            notes.cache = Some(CacheStatus::Miss);
            recorder
        }
    };
    if no_body {
        finisher.record_call(
            exchange,
            Outcome {
                status: status.as_u16(),
                termination: Termination::Eof,
                error_code: None,
                response: BodyRecord {
                    headers: recorded_headers,
                    body: RecordedBody::default(),
                    truncated: false,
                },
                facts: ResponseFacts::default(),
            },
            notes,
        );
        return response.finish();
    }
    let filter = (strip_usage && is_sse).then(UsageChunkFilter::new);
    let size = match length {
        Some(n) if !is_sse && filter.is_none() => BodySize::Sized(n),
        _ => BodySize::Stream,
    };
    let idle = finisher.idle_timeout;
    let payload: PayloadStream = Box::pin(upstream.take_payload());
    let stream: PayloadStream = match exchange.budget.clone().filter(|_| is_sse) {
        Some(call) => Box::pin(BudgetMeter::new(payload, call, finisher.flavor)),
        None => payload,
    };
    let body = UpstreamBody {
        stream,
        is_sse,
        ended: false,
        upstream_done: false,
        filter,
        recorder,
        _permit: permit,
        size,
        idle,
        idle_timer: Box::pin(tokio::time::sleep(idle)),
        capture: Capture::new(is_sse, finisher.body_cap),
        pending: Some(Pending {
            exchange,
            status: status.as_u16(),
            headers: recorded_headers,
            notes,
        }),
        finisher,
        disconnected: None,
    };
    response.body(body)
}
