//! What a recorded answer said, whatever its shape: the gateway's stream record
//! (`{content, tool_calls}`), an Anthropic message, an OpenAI chat completion or a Responses
//! object; a body cut at the record's cap is shown as the text it is.

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub id: Option<String>,
    pub input: String,
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Text of a JSON value that holds a tool's input: strings as they are, the rest as JSON.
fn input_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub fn answer(body: &Value) -> Answer {
    let mut out = Answer::default();
    match body {
        Value::String(text) => out.text.clone_from(text),
        Value::Object(_) if body.get("choices").is_some() => chat(body, &mut out),
        Value::Object(_) if body.get("output").is_some_and(Value::is_array) => {
            responses(body, &mut out);
        }
        Value::Object(_) => match body.get("content") {
            // The gateway's record of a stream.
            Some(Value::String(text)) => {
                out.text.clone_from(text);
                for call in body
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.tool_calls.push(ToolCall {
                        name: str_of(call, "name").unwrap_or_default(),
                        id: str_of(call, "id"),
                        input: input_text(call.get("input")),
                    });
                }
            }
            // An Anthropic message.
            Some(Value::Array(blocks)) => {
                for block in blocks {
                    match block.get("type").and_then(Value::as_str) {
                        Some("text") => push_text(&mut out.text, block.get("text")),
                        Some("tool_use" | "server_tool_use") => out.tool_calls.push(ToolCall {
                            name: str_of(block, "name").unwrap_or_default(),
                            id: str_of(block, "id"),
                            input: input_text(block.get("input")),
                        }),
                        _ => {}
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
    out
}

fn push_text(out: &mut String, text: Option<&Value>) {
    if let Some(text) = text.and_then(Value::as_str) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
    }
}

fn chat(body: &Value, out: &mut Answer) {
    let Some(message) = body.pointer("/choices/0/message") else {
        return;
    };
    push_text(&mut out.text, message.get("content"));
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.tool_calls.push(ToolCall {
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            id: str_of(call, "id"),
            input: input_text(call.pointer("/function/arguments")),
        });
    }
}

fn responses(body: &Value, out: &mut Answer) {
    for item in body
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "message" {
            for part in item
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push_text(&mut out.text, part.get("text"));
            }
        } else if kind.ends_with("_call") {
            out.tool_calls.push(ToolCall {
                name: str_of(item, "name").unwrap_or_else(|| kind.to_owned()),
                id: str_of(item, "call_id"),
                input: input_text(
                    item.get("arguments")
                        .or_else(|| item.get("input"))
                        .or_else(|| item.get("action")),
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_answer_shape() {
        let stream = answer(
            &json!({"content": "Checking.", "tool_calls": [{"id": "toolu_1", "name": "Bash", "input": "{\"command\":\"ls\"}"}]}),
        );
        assert_eq!(stream.text, "Checking.");
        assert_eq!(stream.tool_calls[0].name, "Bash");
        assert_eq!(stream.tool_calls[0].input, "{\"command\":\"ls\"}");

        let anthropic = answer(&json!({"type": "message", "content": [
            {"type": "text", "text": "Sure."},
            {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "/a.rs"}}
        ]}));
        assert_eq!(anthropic.text, "Sure.");
        assert_eq!(anthropic.tool_calls[0].input, "{\"file_path\":\"/a.rs\"}");

        let chat = answer(
            &json!({"choices": [{"message": {"content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "order_status", "arguments": "{\"order_id\":\"1\"}"}}
            ]}}]}),
        );
        assert_eq!(chat.tool_calls[0].name, "order_status");
        assert_eq!(chat.text, "");

        let responses = answer(&json!({"object": "response", "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "Done."}]},
            {"type": "function_call", "name": "shell", "call_id": "c1", "arguments": "{}"}
        ]}));
        assert_eq!(responses.text, "Done.");
        assert_eq!(responses.tool_calls[0].id.as_deref(), Some("c1"));

        assert_eq!(answer(&json!("{\"id\":\"cut")).text, "{\"id\":\"cut");
        assert_eq!(answer(&Value::Null), Answer::default());
    }
}
