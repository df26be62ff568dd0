//! The events that end a stream cleanly at the budget, in the stream's own format, so every
//! SDK sees a complete answer that stopped for length, then an error it raises:
//!
//! - OpenAI chat: a last chunk per choice with `finish_reason: "length"`, a `data:` line with
//!   the error envelope, and `data: [DONE]`;
//! - OpenAI Responses: `response.incomplete` (`reason: max_output_tokens`), then an `error`
//!   event;
//! - Anthropic Messages: `content_block_stop` for an open block, `message_delta` with
//!   `stop_reason: "max_tokens"`, `message_stop`, then an `error` event.

use std::collections::BTreeSet;

use bytes::Bytes;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::{ApiError, ErrorFlavor};
use serde_json::{json, Value};

pub const MESSAGE: &str =
    "The budget ran out: the gateway ended this answer where it would have passed it.";

/// What the meter learned about the stream, enough to close it in its own format.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StreamKind {
    #[default]
    Unknown,
    Chat {
        id: Value,
        model: Value,
        created: Value,
        choices: BTreeSet<u64>,
    },
    Responses {
        id: Value,
        model: Value,
        created_at: Value,
    },
    Anthropic {
        open_block: Option<u64>,
    },
}

impl StreamKind {
    /// Learns from one event (its `event:` name and parsed `data:`).
    pub fn observe(&mut self, event: &str, data: &Value) {
        let kind = data.get("type").and_then(Value::as_str).unwrap_or(event);
        if data.get("object").and_then(Value::as_str) == Some("chat.completion.chunk") {
            if !matches!(self, Self::Chat { .. }) {
                *self = Self::Chat {
                    id: Value::Null,
                    model: Value::Null,
                    created: Value::Null,
                    choices: BTreeSet::new(),
                };
            }
            if let Self::Chat {
                id,
                model,
                created,
                choices,
            } = self
            {
                *id = data.get("id").cloned().unwrap_or(Value::Null);
                *model = data.get("model").cloned().unwrap_or(Value::Null);
                *created = data.get("created").cloned().unwrap_or(Value::Null);
                for c in data
                    .get("choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    choices.insert(c.get("index").and_then(Value::as_u64).unwrap_or(0));
                }
            }
        } else if kind.starts_with("response.") {
            if let Some(response) = data.get("response") {
                *self = Self::Responses {
                    id: response.get("id").cloned().unwrap_or(Value::Null),
                    model: response.get("model").cloned().unwrap_or(Value::Null),
                    created_at: response.get("created_at").cloned().unwrap_or(Value::Null),
                };
            } else if !matches!(self, Self::Responses { .. }) {
                *self = Self::Responses {
                    id: Value::Null,
                    model: Value::Null,
                    created_at: Value::Null,
                };
            }
        } else if kind.starts_with("message_") || kind.starts_with("content_block_") {
            let open = match self {
                Self::Anthropic { open_block } => *open_block,
                _ => None,
            };
            let open_block = match kind {
                "content_block_start" => data.get("index").and_then(Value::as_u64),
                "content_block_stop" => None,
                _ => open,
            };
            *self = Self::Anthropic { open_block };
        }
    }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The bytes that end the stream; `output_tokens` is what it streamed so far (Anthropic's
/// final usage).
pub fn closing(kind: &StreamKind, flavor: ErrorFlavor, output_tokens: u64) -> Bytes {
    let error = ApiError::new(ErrorCode::BudgetExceeded, MESSAGE);
    let mut out = String::new();
    match kind {
        StreamKind::Chat {
            id,
            model,
            created,
            choices,
        } => {
            let indices: Vec<u64> = if choices.is_empty() {
                vec![0]
            } else {
                choices.iter().copied().collect()
            };
            let last: Vec<Value> = indices
                .iter()
                .map(|i| json!({"index": i, "delta": {}, "logprobs": null, "finish_reason": "length"}))
                .collect();
            out.push_str(&sse(
                None,
                &json!({"id": id, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": last}),
            ));
            out.push_str(&sse(None, &error.with_flavor(ErrorFlavor::OpenAi).body()));
            out.push_str("data: [DONE]\n\n");
        }
        StreamKind::Responses {
            id,
            model,
            created_at,
        } => {
            out.push_str(&sse(
                Some("response.incomplete"),
                &json!({"type": "response.incomplete", "response": {
                    "id": id, "object": "response", "created_at": created_at, "model": model,
                    "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"}, "output": []}}),
            ));
            let envelope = error.with_flavor(ErrorFlavor::OpenAi).body();
            let mut event = json!({"type": "error", "code": "budget_exceeded",
                                   "message": MESSAGE, "param": null});
            event["error"] = envelope["error"].clone();
            out.push_str(&sse(Some("error"), &event));
        }
        StreamKind::Anthropic { open_block } => {
            if let Some(index) = open_block {
                out.push_str(&sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            }
            out.push_str(&sse(
                Some("message_delta"),
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                        "usage": {"output_tokens": output_tokens}}),
            ));
            out.push_str(&sse(Some("message_stop"), &json!({"type": "message_stop"})));
            out.push_str(&sse(
                Some("error"),
                &error.with_flavor(ErrorFlavor::Anthropic).body(),
            ));
        }
        StreamKind::Unknown => match flavor {
            ErrorFlavor::OpenAi => {
                out.push_str(&sse(None, &error.with_flavor(flavor).body()));
                out.push_str("data: [DONE]\n\n");
            }
            ErrorFlavor::Anthropic => {
                out.push_str(&sse(Some("error"), &error.with_flavor(flavor).body()));
            }
        },
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_anthropic_stream_closes_its_open_block_first() {
        let mut kind = StreamKind::default();
        kind.observe("message_start", &json!({"type": "message_start"}));
        kind.observe(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 1}),
        );
        let text = String::from_utf8(closing(&kind, ErrorFlavor::Anthropic, 42).to_vec()).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "content_block_stop",
                "message_delta",
                "message_stop",
                "error"
            ]
        );
        assert!(text.contains(r#""stop_reason":"max_tokens""#));
        assert!(text.contains(r#""output_tokens":42"#));
        assert!(text.contains(r#""code":"budget_exceeded""#));
    }

    #[test]
    fn a_responses_stream_ends_incomplete_then_errs() {
        let mut kind = StreamKind::default();
        kind.observe(
            "response.created",
            &json!({"type": "response.created",
                    "response": {"id": "resp_1", "model": "gpt-5", "created_at": 9}}),
        );
        kind.observe(
            "response.output_text.delta",
            &json!({"type": "response.output_text.delta", "delta": "hi"}),
        );
        let text = String::from_utf8(closing(&kind, ErrorFlavor::OpenAi, 3).to_vec()).unwrap();
        let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].starts_with("event: response.incomplete\n"));
        let data: Value = serde_json::from_str(blocks[0].split_once("data: ").unwrap().1).unwrap();
        assert_eq!(data["response"]["id"], "resp_1");
        assert_eq!(data["response"]["status"], "incomplete");
        assert_eq!(
            data["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert!(blocks[1].starts_with("event: error\n"));
        assert!(blocks[1].contains(r#""code":"budget_exceeded""#));
    }

    #[test]
    fn a_chat_stream_ends_every_choice_for_length() {
        let mut kind = StreamKind::default();
        for i in [0, 1] {
            kind.observe(
                "",
                &json!({"id": "c1", "object": "chat.completion.chunk", "created": 7,
                        "model": "m", "choices": [{"index": i, "delta": {"content": "x"}}]}),
            );
        }
        let text = String::from_utf8(closing(&kind, ErrorFlavor::OpenAi, 0).to_vec()).unwrap();
        let first: Value =
            serde_json::from_str(text.lines().next().unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(first["id"], "c1");
        assert_eq!(first["choices"][1]["finish_reason"], "length");
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains(r#""code":"budget_exceeded""#));
    }
}
