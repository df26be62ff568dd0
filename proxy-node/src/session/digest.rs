//! [`SessionTurn`]: the messages a call added to its conversation, normalised across the three
//! API shapes (Anthropic content blocks, OpenAI chat messages, Responses input items) and kept
//! small: the last few messages, long text cut, secrets masked.

use llm_proxy_core::event::{SessionTurn, TurnMessage, TurnPart, TurnPartKind};
use serde_json::Value;

use crate::redact;

/// Added messages kept at most (the last ones).
const MAX_MESSAGES: usize = 8;
/// Parts kept per message at most.
const MAX_PARTS: usize = 16;
/// Bytes of text kept per part at most.
const MAX_TEXT: usize = 2_000;
/// Bytes of text kept per turn at most; the newest messages keep theirs first.
const MAX_TURN_TEXT: usize = 12_000;

/// The digest of `items[shared..]`.
pub fn turn(items: &[&Value], shared: usize, secret: Option<&str>) -> SessionTurn {
    let added = items.get(shared..).unwrap_or_default();
    let skip = added.len().saturating_sub(MAX_MESSAGES);
    let mut messages: Vec<TurnMessage> = added[skip..]
        .iter()
        .map(|item| message(item, secret))
        .collect();
    let mut budget = MAX_TURN_TEXT;
    for part in messages.iter_mut().rev().flat_map(|m| m.parts.iter_mut()) {
        let Some(text) = &mut part.text else {
            continue;
        };
        if budget == 0 {
            part.text = None;
            part.truncated = true;
            continue;
        }
        if text.len() > budget {
            let mut end = budget;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(ELLIPSIS);
            part.truncated = true;
        }
        budget = budget.saturating_sub(text.len());
    }
    SessionTurn {
        messages: items.len() as u64,
        added: messages,
        omitted: skip as u64,
    }
}

fn message(item: &Value, secret: Option<&str>) -> TurnMessage {
    let text = |s: &str| cut(s, secret);
    let str_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut parts = Vec::new();
    let role = match item {
        Value::String(s) => {
            parts.push(part(TurnPartKind::Text, Some(text(s))));
            "user".to_owned()
        }
        _ => match item.get("type").and_then(Value::as_str) {
            // Responses items other than messages.
            Some(kind @ ("function_call" | "custom_tool_call" | "local_shell_call")) => {
                let input = item
                    .get("arguments")
                    .or_else(|| item.get("input"))
                    .or_else(|| item.get("action"));
                parts.push(TurnPart {
                    name: str_of(item, "name").or_else(|| Some(kind.to_owned())),
                    id: str_of(item, "call_id"),
                    ..part(TurnPartKind::ToolCall, input.map(|v| json_text(v, secret)))
                });
                "assistant".to_owned()
            }
            Some(
                "function_call_output" | "custom_tool_call_output" | "local_shell_call_output",
            ) => {
                parts.push(TurnPart {
                    id: str_of(item, "call_id"),
                    ..part(
                        TurnPartKind::ToolResult,
                        item.get("output").map(|v| json_text(v, secret)),
                    )
                });
                "tool".to_owned()
            }
            Some("reasoning") => {
                parts.push(part(TurnPartKind::Thinking, None));
                "assistant".to_owned()
            }
            _ => {
                content(item.get("content"), secret, &mut parts);
                chat_extras(item, secret, &mut parts);
                str_of(item, "role").unwrap_or_else(|| "user".to_owned())
            }
        },
    };
    parts.truncate(MAX_PARTS);
    TurnMessage { role, parts }
}

/// A message's `content`: a string or blocks (Anthropic and Responses block types).
fn content(content: Option<&Value>, secret: Option<&str>, parts: &mut Vec<TurnPart>) {
    match content {
        Some(Value::String(s)) => parts.push(part(TurnPartKind::Text, Some(cut(s, secret)))),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                parts.push(block_part(block, secret));
            }
        }
        _ => {}
    }
}

fn block_part(block: &Value, secret: Option<&str>) -> TurnPart {
    let str_of = |key: &str| block.get(key).and_then(Value::as_str).map(str::to_owned);
    match block.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" | "input_text" | "output_text" => {
            part(TurnPartKind::Text, str_of("text").map(|t| cut(&t, secret)))
        }
        "tool_use" | "server_tool_use" => TurnPart {
            name: str_of("name"),
            id: str_of("id"),
            ..part(
                TurnPartKind::ToolCall,
                block.get("input").map(|v| json_text(v, secret)),
            )
        },
        "tool_result" => {
            let mut inner = Vec::new();
            content(block.get("content"), secret, &mut inner);
            let text: Vec<String> = inner.into_iter().filter_map(|p| p.text).collect();
            let text = text.join("\n");
            TurnPart {
                id: str_of("tool_use_id"),
                is_error: block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                ..part(TurnPartKind::ToolResult, Some(cut(&text, secret)))
            }
        }
        "image" | "input_image" | "image_url" | "document" | "input_file" => {
            part(TurnPartKind::Image, None)
        }
        "thinking" | "redacted_thinking" => part(TurnPartKind::Thinking, None),
        _ => part(TurnPartKind::Other, None),
    }
}

/// OpenAI chat: an assistant's `tool_calls`, a tool message's `tool_call_id`.
fn chat_extras(item: &Value, secret: Option<&str>, parts: &mut Vec<TurnPart>) {
    if let Some(calls) = item.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            let function = call.get("function");
            parts.push(TurnPart {
                name: function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                id: call.get("id").and_then(Value::as_str).map(str::to_owned),
                ..part(
                    TurnPartKind::ToolCall,
                    function
                        .and_then(|f| f.get("arguments"))
                        .map(|v| json_text(v, secret)),
                )
            });
        }
    }
    if let Some(id) = item.get("tool_call_id").and_then(Value::as_str) {
        for p in parts.iter_mut().filter(|p| p.kind == TurnPartKind::Text) {
            p.kind = TurnPartKind::ToolResult;
            p.id = Some(id.to_owned());
        }
    }
}

/// Text cut to size, and whether it was cut.
type Cut = (String, bool);

fn part(kind: TurnPartKind, text: Option<Cut>) -> TurnPart {
    let (text, truncated) = match text {
        Some((text, truncated)) => (Some(text), truncated),
        None => (None, false),
    };
    TurnPart {
        kind,
        text,
        truncated,
        ..TurnPart::default()
    }
}

const ELLIPSIS: &str = "…";

/// A JSON value as text (strings as they are, e.g. OpenAI's `arguments`).
fn json_text(v: &Value, secret: Option<&str>) -> Cut {
    match v {
        Value::String(s) => cut(s, secret),
        other => cut(&other.to_string(), secret),
    }
}

/// At most `MAX_TEXT` bytes on a char boundary (marked with `…`), secrets masked.
fn cut(text: &str, secret: Option<&str>) -> Cut {
    let masked = redact::redact_text(text, secret);
    if masked.len() <= MAX_TEXT {
        return (masked.into_owned(), false);
    }
    let mut end = MAX_TEXT;
    while !masked.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{ELLIPSIS}", &masked[..end]), true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_tool_use_and_result() {
        let items = [
            json!({"role": "user", "content": [{"type": "text", "text": "list files"}]}),
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}}
            ]}),
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "a.rs\nb.rs"}]}
            ]}),
        ];
        let refs: Vec<&Value> = items.iter().collect();
        let t = turn(&refs, 1, None);
        assert_eq!((t.messages, t.omitted, t.added.len()), (3, 0, 2));
        let call = &t.added[0].parts[1];
        assert_eq!(call.kind, TurnPartKind::ToolCall);
        assert_eq!(call.name.as_deref(), Some("Bash"));
        assert_eq!(call.text.as_deref(), Some(r#"{"command":"ls"}"#));
        let result = &t.added[1].parts[0];
        assert_eq!(result.kind, TurnPartKind::ToolResult);
        assert_eq!(result.id.as_deref(), Some("toolu_01"));
        assert_eq!(result.text.as_deref(), Some("a.rs\nb.rs"));
    }

    #[test]
    fn openai_chat_and_responses_items() {
        let items = [
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "4°C"}),
            json!({"type": "function_call", "name": "shell", "call_id": "c2", "arguments": "{\"cmd\":[\"ls\"]}"}),
            json!({"type": "function_call_output", "call_id": "c2", "output": "ok"}),
            json!("plain input"),
        ];
        let refs: Vec<&Value> = items.iter().collect();
        let t = turn(&refs, 0, None);
        assert_eq!(t.added[0].parts[0].name.as_deref(), Some("get_weather"));
        assert_eq!(t.added[1].parts[0].kind, TurnPartKind::ToolResult);
        assert_eq!(t.added[1].parts[0].id.as_deref(), Some("call_1"));
        assert_eq!(
            t.added[2].parts[0].text.as_deref(),
            Some("{\"cmd\":[\"ls\"]}")
        );
        assert_eq!(t.added[3].role, "tool");
        assert_eq!(t.added[4].parts[0].text.as_deref(), Some("plain input"));
    }

    #[test]
    fn long_turns_are_cut_and_secrets_masked() {
        let long = "é".repeat(MAX_TEXT);
        let items: Vec<Value> = (0..20)
            .map(|i| json!({"role": "user", "content": format!("{i} {long} sk-proj-abcdefghijklmnop")}))
            .collect();
        let refs: Vec<&Value> = items.iter().collect();
        let t = turn(&refs, 0, None);
        assert_eq!((t.added.len(), t.omitted), (MAX_MESSAGES, 12));
        let oldest = &t.added[0].parts[0];
        assert!(
            oldest.text.is_none() && oldest.truncated,
            "the turn's text budget ran out"
        );
        let cut = t.added[2].parts[0].text.as_deref().unwrap();
        assert!(cut.starts_with("14 "));
        assert!(cut.len() <= MAX_TEXT + ELLIPSIS.len());
        let total: usize = t
            .added
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|p| p.text.as_ref())
            .map(String::len)
            .sum();
        assert!(
            total <= MAX_TURN_TEXT + MAX_MESSAGES * ELLIPSIS.len(),
            "{total}"
        );
        let newest = t.added[MAX_MESSAGES - 1].parts[0].text.as_deref().unwrap();
        assert!(newest.starts_with("19 ") && newest.len() > MAX_TEXT / 2);
        let short = turn(
            &[&json!({"role": "user", "content": "key sk-proj-abcdefghijklmnop"})],
            0,
            None,
        );
        assert!(!short.added[0].parts[0]
            .text
            .as_deref()
            .unwrap()
            .contains("abcdefghijklmnop"));
    }
}
