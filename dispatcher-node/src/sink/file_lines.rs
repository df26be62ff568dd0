//! The file sink's session lines, serialised straight from the event into the output buffer.
//!
//! The format is the one the sink always wrote through `serde_json::Value` objects, whose keys
//! come out sorted: every struct here declares its fields in that order, and the two nested
//! structs of the event whose own field order is not sorted (`usage`, `turn`) go through a
//! `Value` so they stay byte for byte what they were. Bodies are copied as the proxy recorded
//! them (see [`RecordedBody`]).

use chrono::{DateTime, SecondsFormat, Utc};
use llm_proxy_core::event::{CacheStatus, Lineage, RecordedBody, RequestEvent, Termination};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A value serialised with sorted keys (through `serde_json::Value`).
struct Sorted<'a, T>(&'a T);

impl<T: Serialize> Serialize for Sorted<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<Uuid>,
    host: &'a str,
    machine: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    session: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<Uuid>,
    ts: String,
}

impl<'a> Meta<'a> {
    fn new(event: &'a RequestEvent, at: DateTime<Utc>, with_request: bool) -> Self {
        Self {
            event_id: with_request.then_some(event.id),
            host: &event.upstream,
            machine: &event.node,
            project_id: event.project_id.filter(|_| with_request),
            provider: with_request.then_some(event.provider.as_str()),
            request_id: with_request.then_some(event.request_id.as_str()),
            session: &event.session.id,
            token_id: event.token_id.filter(|_| with_request),
            ts: ts(at),
        }
    }
}

#[derive(Serialize)]
struct SessionStart<'a> {
    _meta: Meta<'a>,
    provider: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    upstream: &'a str,
}

#[derive(Serialize)]
struct Request<'a> {
    _meta: Meta<'a>,
    body: &'a RecordedBody,
    headers: &'a Map<String, Value>,
    lineage: &'a Option<String>,
    method: &'a str,
    model: &'a Option<String>,
    parent_seq: Option<u64>,
    path: &'a str,
    seq: u64,
    truncated: bool,
    turn: Option<Sorted<'a, llm_proxy_core::event::SessionTurn>>,
    #[serde(rename = "type")]
    kind: &'static str,
    upstream: &'a str,
}

#[derive(Serialize)]
struct Fork<'a> {
    _meta: Meta<'a>,
    parent_seq: Option<u64>,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Timing {
    total_ms: f64,
    ttfb_ms: Option<f64>,
    upstream_ms: Option<f64>,
}

#[derive(Serialize)]
struct Response<'a> {
    _meta: Meta<'a>,
    body: &'a RecordedBody,
    cache: CacheStatus,
    error_code: &'a Option<String>,
    finish_reason: &'a Option<String>,
    headers: &'a Map<String, Value>,
    path: &'a str,
    seq: u64,
    status: u16,
    stream: bool,
    termination: Termination,
    timing: Timing,
    truncated: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    upstream: &'a str,
    usage: Option<Sorted<'a, llm_proxy_core::event::Usage>>,
}

fn line<T: Serialize>(buf: &mut Vec<u8>, value: &T) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *buf, value)?;
    buf.push(b'\n');
    Ok(())
}

/// Appends the `session_start` line written when a session file is created.
pub fn write_session_start(buf: &mut Vec<u8>, event: &RequestEvent) -> serde_json::Result<()> {
    line(
        buf,
        &SessionStart {
            _meta: Meta::new(event, event.occurred_at, false),
            provider: &event.provider,
            source: &event.session.source,
            kind: "session_start",
            upstream: &event.upstream,
        },
    )
}

/// Appends the lines of one event: `request`, `fork` (forked calls only), `response`.
pub fn write_session_lines(buf: &mut Vec<u8>, event: &RequestEvent) -> serde_json::Result<()> {
    let session = &event.session;
    line(
        buf,
        &Request {
            _meta: Meta::new(event, event.occurred_at, true),
            body: &event.request.body,
            headers: &event.request.headers,
            lineage: &session.lineage,
            method: &event.method,
            model: &event.model,
            parent_seq: session.parent_seq,
            path: &event.path,
            seq: session.seq,
            truncated: event.request.truncated,
            turn: session.turn.as_ref().map(Sorted),
            kind: "request",
            upstream: &event.upstream,
        },
    )?;
    if session.lineage.as_deref().and_then(Lineage::parse) == Some(Lineage::Fork) {
        line(
            buf,
            &Fork {
                _meta: Meta::new(event, event.occurred_at, true),
                parent_seq: session.parent_seq,
                seq: session.seq,
                kind: "fork",
            },
        )?;
    }
    let end = event.occurred_at
        + chrono::Duration::microseconds((event.duration_ms * 1000.0).round() as i64);
    line(
        buf,
        &Response {
            _meta: Meta::new(event, end, true),
            body: &event.response.body,
            cache: event.cache,
            error_code: &event.error_code,
            finish_reason: &event.finish_reason,
            headers: &event.response.headers,
            path: &event.path,
            seq: session.seq,
            status: event.status,
            stream: event.stream,
            termination: event.termination,
            timing: Timing {
                total_ms: event.duration_ms,
                ttfb_ms: event.ttfb_ms,
                upstream_ms: event.upstream_ms,
            },
            truncated: event.response.truncated,
            kind: "response",
            upstream: &event.upstream,
            usage: event.usage.as_ref().map(Sorted),
        },
    )
}
