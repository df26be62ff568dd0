//! The request event: one JSON document per proxied call (DESIGN §5, §13). This is the contract
//! between proxy nodes and dispatchers; bump `SCHEMA_VERSION` on any breaking change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::budget::DisconnectPolicy;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEvent {
    /// UUIDv7; the idempotency key for every sink.
    pub id: Uuid,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
    pub node: String,
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub provider: String,
    pub upstream: String,
    pub method: String,
    pub path: String,
    pub model: Option<String>,
    pub status: u16,
    pub stream: bool,
    pub duration_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub upstream_ms: Option<f64>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    pub termination: Termination,
    /// Set when the client went away before the end: whether the gateway stopped the upstream
    /// at once (`cancel`) or read it to the end for the exact usage (`drain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectPolicy>,
    pub error_code: Option<String>,
    pub cache: CacheStatus,
    /// Requests sent upstream for this call: 1 normally, more after retries, 0 when the gateway
    /// answered itself (refusal, cache hit). Missing in events from before the field: 0.
    #[serde(default)]
    pub attempts: u32,
    pub session: SessionInfo,
    pub client: ClientInfo,
    pub request: BodyRecord,
    pub response: BodyRecord,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    #[serde(default)]
    pub estimated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// The response ended normally.
    Eof,
    ClientCancel,
    UpstreamError,
    Timeout,
    /// The gateway answered without calling the upstream (auth, policy, limits).
    Rejected,
    /// The gateway ended a stream cleanly where it would have passed a budget.
    Budget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    Hit,
    Miss,
    Stored,
    Bypass,
}

/// The `source` of a session the gateway made up for a call without an id: the call is its own
/// session, named after its request id.
pub const GENERATED_SESSION: &str = "generated";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    /// Where the id came from: `x-claude-code-session-id`, `metadata.user_id`, … or `generated`.
    pub source: String,
    pub seq: u64,
    /// [`Lineage`] within the session: `new`, `continuation` or `fork` (`None` for calls that
    /// carry no conversation, or when the session store could not say).
    pub lineage: Option<String>,
    /// The earlier call this one continues or forks from.
    pub parent_seq: Option<u64>,
    /// What this call added to the conversation; absent for calls without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<SessionTurn>,
}

impl SessionInfo {
    /// A call without a session of its own (no id from the client): no later call joins it.
    pub fn is_single_call(&self) -> bool {
        self.id.is_empty() || self.source == GENERATED_SESSION
    }
}

/// How a call relates to the earlier calls of its session, by the canonical hash of its
/// message prefix (DESIGN §6). Never decided across two session ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lineage {
    /// Shares no leading messages with an earlier call of the session (its first call, a
    /// subagent's or a side call's first call).
    New,
    /// Repeats an earlier call's whole conversation and adds to it.
    Continuation,
    /// Shares a leading part with earlier calls but departs from them inside it: history
    /// edited, rewound or compacted.
    Fork,
}

impl Lineage {
    pub fn as_str(self) -> &'static str {
        match self {
            Lineage::New => "new",
            Lineage::Continuation => "continuation",
            Lineage::Fork => "fork",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "new" => Some(Lineage::New),
            "continuation" => Some(Lineage::Continuation),
            "fork" => Some(Lineage::Fork),
            _ => None,
        }
    }
}

/// A readable digest of one call's new messages, kept small whatever the request's size: the
/// request body record is capped from the front, where agents repeat their system prompt and
/// tools every turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionTurn {
    /// Messages (or Responses input items) in the request.
    pub messages: u64,
    /// The messages after the part shared with the parent call (all of them for a new
    /// lineage), oldest first; only the last few, long text cut.
    pub added: Vec<TurnMessage>,
    /// Added messages left out of `added`.
    #[serde(default)]
    pub omitted: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnMessage {
    /// `user`, `assistant`, `system`, `tool`, … as the client sent it.
    pub role: String,
    pub parts: Vec<TurnPart>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnPart {
    pub kind: TurnPartKind,
    /// Text, tool input (JSON) or tool output, cut to a few kilobytes and redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The tool's name (tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tool call id (tool calls and their results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnPartKind {
    #[default]
    Text,
    ToolCall,
    ToolResult,
    Image,
    Thinking,
    #[serde(other)]
    Other,
}

/// A path component of the per-session file layout
/// (`<dir>/<upstream>/<YYYY-MM-DD>/<session>.jsonl`) from client-controlled text: only
/// `[A-Za-z0-9._-]`, at most 128 characters, never `.` or `..`. The file sink writes and the
/// admin UI reads by it.
pub fn layout_component(raw: &str, fallback: &str) -> String {
    let cleaned: String = raw
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        fallback.to_owned()
    } else {
        cleaned
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A capped, redacted copy of a body and its headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyRecord {
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// JSON when the body parsed as JSON, else a string; streams are reassembled.
    pub body: RecordedBody,
    pub truncated: bool,
}

/// A recorded body as its JSON text: written once by the proxy and copied verbatim into the
/// event, the stream entry, the spill and every sink's output, never turned into a tree on the
/// way (a `Value` costs an allocation per key and string, and a walk per encode). Sinks that
/// read inside it parse it with [`RecordedBody::value`]. Always one line (no raw newlines).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordedBody(Box<serde_json::value::RawValue>);

impl RecordedBody {
    /// JSON text as the client or provider sent it, when it is valid JSON; `None` otherwise.
    /// Text with line breaks is re-encoded on one line (events are JSON lines).
    pub fn from_json_text(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
            let value: serde_json::Value = serde_json::from_str(text).ok()?;
            return Some(Self::from_value(&value));
        }
        serde_json::from_str::<Box<serde_json::value::RawValue>>(text)
            .ok()
            .map(Self)
    }

    /// A JSON string holding `text` (a body that is not JSON).
    pub fn string(text: &str) -> Self {
        Self::from_value(&serde_json::Value::String(text.to_owned()))
    }

    pub fn from_value(value: &serde_json::Value) -> Self {
        // A `Value` always encodes; the fallback is unreachable but keeps this total.
        Self(
            serde_json::value::to_raw_value(value)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        )
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The body parsed (`Null` if it somehow is not JSON).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }
}

impl Default for RecordedBody {
    fn default() -> Self {
        Self(serde_json::value::RawValue::NULL.to_owned())
    }
}

impl PartialEq for RecordedBody {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.value() == other.value()
    }
}

impl From<serde_json::Value> for RecordedBody {
    fn from(value: serde_json::Value) -> Self {
        Self::from_value(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_body_is_copied_verbatim_and_always_on_one_line() {
        let body = RecordedBody::from_json_text(r#"{"z": 1, "a": [1.50, "x"]}"#).unwrap();
        let record = BodyRecord {
            body,
            ..BodyRecord::default()
        };
        let line = serde_json::to_string(&record).unwrap();
        assert_eq!(
            line,
            r#"{"headers":{},"body":{"z": 1, "a": [1.50, "x"]},"truncated":false}"#
        );
        let back: BodyRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record);

        let pretty = RecordedBody::from_json_text("{\n  \"a\": \"x\\ny\"\r\n}").unwrap();
        assert_eq!(pretty.as_str(), r#"{"a":"x\ny"}"#);
        assert!(RecordedBody::from_json_text("{not json").is_none());
        assert_eq!(RecordedBody::string("a \"b\"").as_str(), r#""a \"b\"""#);
        assert!(RecordedBody::default().is_null());
    }

    #[test]
    fn event_round_trips_through_json_with_the_contract_field_names() {
        let event = RequestEvent {
            id: Uuid::now_v7(),
            schema_version: SCHEMA_VERSION,
            occurred_at: Utc::now(),
            request_id: "req-1".into(),
            node: "node-a".into(),
            project_id: Some(Uuid::new_v4()),
            token_id: Some(Uuid::new_v4()),
            provider: "openai".into(),
            upstream: "api.openai.com".into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            model: Some("gpt-4o-mini".into()),
            status: 200,
            stream: true,
            duration_ms: 12.5,
            ttfb_ms: Some(3.0),
            upstream_ms: Some(11.0),
            usage: Some(Usage {
                prompt_tokens: Some(10),
                completion_tokens: Some(5),
                total_tokens: Some(15),
                cached_tokens: None,
                estimated: false,
            }),
            finish_reason: Some("stop".into()),
            termination: Termination::Eof,
            disconnect: None,
            error_code: None,
            cache: CacheStatus::Bypass,
            attempts: 1,
            session: SessionInfo::default(),
            client: ClientInfo::default(),
            request: BodyRecord::default(),
            response: BodyRecord::default(),
        };
        let json = serde_json::to_value(&event).unwrap();
        for field in [
            "id",
            "schema_version",
            "occurred_at",
            "request_id",
            "node",
            "project_id",
            "token_id",
            "provider",
            "upstream",
            "method",
            "path",
            "model",
            "status",
            "stream",
            "duration_ms",
            "ttfb_ms",
            "upstream_ms",
            "usage",
            "finish_reason",
            "termination",
            "error_code",
            "cache",
            "attempts",
            "session",
            "client",
            "request",
            "response",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["termination"], "eof");
        assert_eq!(json["usage"]["total_tokens"], 15);
        let back: RequestEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn session_turns_are_optional_and_round_trip() {
        let before: SessionInfo = serde_json::from_value(serde_json::json!({
            "id": "s", "source": "x-session-id", "seq": 3, "lineage": null, "parent_seq": null
        }))
        .unwrap();
        assert!(before.turn.is_none());
        assert!(serde_json::to_value(&before).unwrap().get("turn").is_none());

        let session = SessionInfo {
            lineage: Some(Lineage::Fork.as_str().into()),
            parent_seq: Some(2),
            turn: Some(SessionTurn {
                messages: 3,
                added: vec![TurnMessage {
                    role: "assistant".into(),
                    parts: vec![TurnPart {
                        kind: TurnPartKind::ToolCall,
                        name: Some("Bash".into()),
                        text: Some("{}".into()),
                        ..TurnPart::default()
                    }],
                }],
                omitted: 0,
            }),
            ..before
        };
        let json = serde_json::to_value(&session).unwrap();
        assert_eq!(json["turn"]["added"][0]["parts"][0]["kind"], "tool_call");
        assert!(json["turn"]["added"][0]["parts"][0]
            .get("is_error")
            .is_none());
        assert_eq!(
            serde_json::from_value::<SessionInfo>(json).unwrap(),
            session
        );
        assert_eq!(Lineage::parse("continuation"), Some(Lineage::Continuation));
        let unknown: TurnPart =
            serde_json::from_value(serde_json::json!({"kind": "audio"})).unwrap();
        assert_eq!(unknown.kind, TurnPartKind::Other);
    }
}
