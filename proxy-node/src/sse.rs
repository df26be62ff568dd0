//! Incremental Server-Sent Events parser for the event record: model, usage, finish reason,
//! the reassembled text and the tool calls of OpenAI chat/Responses streams and Anthropic
//! Messages streams. Fed the bytes exactly as they arrive (any split), never buffers more than
//! one line; the stream itself goes to the client untouched.

mod chat_chunk;

use serde::Serialize;
use serde_json::{json, Value};

use crate::redact;
use crate::usage::{usage_from, AnthropicUsage, ResponseFacts};
use chat_chunk::ChatChunk;

/// Lines longer than this are skipped (no legitimate event carries one).
const MAX_LINE: usize = 1024 * 1024;
/// Tool calls kept per stream at most, and bytes of each one's input.
const MAX_TOOL_CALLS: usize = 64;
const MAX_TOOL_INPUT: usize = 8 * 1024;

/// A tool call the model made, reassembled from its deltas.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct StreamToolCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// The input as the model wrote it (JSON text), cut at `MAX_TOOL_INPUT` bytes.
    pub input: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl StreamToolCall {
    fn append(&mut self, fragment: &str) {
        if self.truncated {
            return;
        }
        let room = MAX_TOOL_INPUT.saturating_sub(self.input.len());
        if fragment.len() <= room {
            self.input.push_str(fragment);
        } else {
            let mut cut = room;
            while !fragment.is_char_boundary(cut) {
                cut -= 1;
            }
            self.input.push_str(&fragment[..cut]);
            self.truncated = true;
        }
    }

    fn replace_input(&mut self, input: &str) {
        self.input.clear();
        self.truncated = false;
        self.append(input);
    }
}

#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    skipping_line: bool,
    after_cr: bool,
    event: String,
    data: String,
    facts: ResponseFacts,
    anthropic: AnthropicUsage,
    text: String,
    text_cap: usize,
    text_truncated: bool,
    events: u64,
    tool_calls: Vec<StreamToolCall>,
    /// The stream's own index of each tool call (content block, `tool_calls[].index` or
    /// output index) → its place in `tool_calls`.
    tool_slots: Vec<(u64, usize)>,
}

/// The parser's result.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamSummary {
    pub facts: ResponseFacts,
    /// Assistant text reassembled from the deltas, at most `text_cap` bytes.
    pub text: String,
    pub text_truncated: bool,
    pub events: u64,
    pub tool_calls: Vec<StreamToolCall>,
}

impl StreamSummary {
    /// The response body an event records for a stream: the text and tool calls, redacted.
    pub fn record_body(&self) -> Value {
        let mut body = json!({ "content": redact::redact_text(&self.text, None) });
        if !self.tool_calls.is_empty() {
            let calls: Vec<StreamToolCall> = self
                .tool_calls
                .iter()
                .map(|c| StreamToolCall {
                    input: redact::redact_text(&c.input, None).into_owned(),
                    ..c.clone()
                })
                .collect();
            body["tool_calls"] = json!(calls);
        }
        body
    }
}

impl SseParser {
    pub fn new(text_cap: usize) -> Self {
        Self {
            line: Vec::new(),
            skipping_line: false,
            after_cr: false,
            event: String::new(),
            data: String::new(),
            facts: ResponseFacts::default(),
            anthropic: AnthropicUsage::default(),
            text: String::new(),
            text_cap,
            text_truncated: false,
            events: 0,
            tool_calls: Vec::new(),
            tool_slots: Vec::new(),
        }
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.push_partial(&chunk[..end]);
                    self.after_cr = chunk[end] == b'\r';
                    self.end_line();
                    chunk = &chunk[end + 1..];
                }
                None => {
                    self.push_partial(chunk);
                    break;
                }
            }
        }
    }

    /// Dispatches an event left without its closing blank line (a cut stream).
    pub fn finish(mut self) -> StreamSummary {
        if !self.line.is_empty() {
            self.end_line();
        }
        self.dispatch();
        if self.facts.usage.is_none() {
            self.facts.usage = self.anthropic.to_usage();
        }
        StreamSummary {
            facts: self.facts,
            text: self.text,
            text_truncated: self.text_truncated,
            events: self.events,
            tool_calls: self.tool_calls,
        }
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if self.skipping_line {
            return;
        }
        if self.line.len() + bytes.len() > MAX_LINE {
            self.skipping_line = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    /// The line, event and data buffers are cleared, not dropped: they are reused for the
    /// next line (one allocation per stream, not per line).
    fn end_line(&mut self) {
        if std::mem::take(&mut self.skipping_line) {
            return;
        }
        if self.line.is_empty() {
            self.dispatch();
            return;
        }
        let line = String::from_utf8_lossy(&self.line);
        if !line.starts_with(':') {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => {
                    self.event.clear();
                    self.event.push_str(value);
                }
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                _ => {}
            }
        }
        self.line.clear();
    }

    fn dispatch(&mut self) {
        let mut event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        if !data.is_empty() && data != "[DONE]" {
            self.events += 1;
            self.apply_data(&event, &data);
        }
        event.clear();
        data.clear();
        self.event = event;
        self.data = data;
    }

    fn apply_data(&mut self, event: &str, data: &str) {
        if event.is_empty() {
            if let Ok(chunk) = serde_json::from_str::<ChatChunk>(data) {
                if chunk.kind.is_none() {
                    self.apply_typed_chat_chunk(&chunk);
                    return;
                }
            }
        }
        if let Ok(json) = serde_json::from_str::<Value>(data) {
            self.apply(event, &json);
        }
    }

    /// [`Self::apply_chat_chunk`] for a chunk read into typed fields.
    fn apply_typed_chat_chunk(&mut self, chunk: &ChatChunk) {
        if chunk.has_error_object() {
            self.facts.error = true;
        }
        if self.facts.model.is_none() {
            self.facts.model = chunk.model.as_deref().map(str::to_owned);
        }
        for choice in chunk.choices.iter().flatten() {
            if let Some(reason) = &choice.finish_reason {
                self.facts.finish_reason = Some(reason.as_ref().to_owned());
            }
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(text) = choice.text() {
                self.push_text(text);
            }
            for delta in choice
                .tool_calls()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.apply_chat_tool_delta(delta);
            }
        }
        if let Some(usage) = chunk.usage.as_ref().and_then(usage_from) {
            self.facts.usage = Some(usage);
        }
    }

    fn apply(&mut self, event: &str, v: &Value) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event);
        if kind == "error" || v.get("error").is_some_and(Value::is_object) {
            self.facts.error = true;
        }
        match kind {
            "message_start" => {
                if let Some(message) = v.get("message") {
                    self.set_model(message);
                    if let Some(usage) = message.get("usage") {
                        self.anthropic.merge(usage);
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.facts.finish_reason = Some(reason.to_owned());
                }
                if let Some(usage) = v.get("usage") {
                    self.anthropic.merge(usage);
                }
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
                if matches!(kind, "tool_use" | "server_tool_use") {
                    let slot = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if let Some(call) = self.tool_call(slot) {
                        call.id = str_of(block, "id");
                        call.name = str_of(block, "name").unwrap_or_default();
                        // Server tools arrive whole; client tools stream their input.
                        if let Some(input) = block.get("input").filter(|i| !is_empty_input(i)) {
                            call.replace_input(&input.to_string());
                        }
                    }
                }
            }
            "content_block_delta" => {
                if let Some(text) = v.pointer("/delta/text").and_then(Value::as_str) {
                    self.push_text(text);
                }
                if let Some(json) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                    let slot = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if let Some(call) = self.existing_tool_call(slot) {
                        call.append(json);
                    }
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                self.apply_response_item(v);
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                if let Some(delta) = v.get("delta").and_then(Value::as_str) {
                    let slot = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                    if let Some(call) = self.existing_tool_call(slot) {
                        call.append(delta);
                    }
                }
            }
            "response.created" | "response.in_progress" => {
                if let Some(response) = v.get("response") {
                    self.set_model(response);
                }
            }
            "response.output_text.delta" => {
                if let Some(text) = v.get("delta").and_then(Value::as_str) {
                    self.push_text(text);
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(response) = v.get("response") {
                    self.set_model(response);
                    if let Some(usage) = response.get("usage").and_then(usage_from) {
                        self.facts.usage = Some(usage);
                    }
                    let reason = response
                        .pointer("/incomplete_details/reason")
                        .and_then(Value::as_str)
                        .or_else(|| response.get("status").and_then(Value::as_str));
                    if let Some(reason) = reason {
                        self.facts.finish_reason = Some(reason.to_owned());
                    }
                }
            }
            _ => self.apply_chat_chunk(v),
        }
    }

    /// A Responses output item: tool calls (`function_call`, `custom_tool_call`,
    /// `local_shell_call`, …) are recorded; `done` carries the complete input.
    fn apply_response_item(&mut self, v: &Value) {
        let Some(item) = v.get("item") else {
            return;
        };
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        if !kind.ends_with("_call") {
            return;
        }
        let slot = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let Some(call) = self.tool_call(slot) else {
            return;
        };
        call.id = str_of(item, "call_id").or_else(|| str_of(item, "id"));
        call.name = str_of(item, "name").unwrap_or_else(|| kind.to_owned());
        let input = item
            .get("arguments")
            .or_else(|| item.get("input"))
            .or_else(|| item.get("action"));
        match input {
            Some(Value::String(s)) if !s.is_empty() => call.replace_input(s),
            Some(other) if !other.is_string() && !other.is_null() => {
                call.replace_input(&other.to_string());
            }
            _ => {}
        }
    }

    /// The tool call at the stream's `slot`, created on first sight (`None` past the cap).
    fn tool_call(&mut self, slot: u64) -> Option<&mut StreamToolCall> {
        let position = match self.tool_slots.iter().find(|(s, _)| *s == slot) {
            Some((_, position)) => *position,
            None => {
                if self.tool_calls.len() >= MAX_TOOL_CALLS {
                    return None;
                }
                self.tool_calls.push(StreamToolCall::default());
                let position = self.tool_calls.len() - 1;
                self.tool_slots.push((slot, position));
                position
            }
        };
        self.tool_calls.get_mut(position)
    }

    fn existing_tool_call(&mut self, slot: u64) -> Option<&mut StreamToolCall> {
        let (_, position) = *self.tool_slots.iter().find(|(s, _)| *s == slot)?;
        self.tool_calls.get_mut(position)
    }

    /// OpenAI chat (and legacy completions) chunks.
    fn apply_chat_chunk(&mut self, v: &Value) {
        self.set_model(v);
        if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            for choice in choices {
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    self.facts.finish_reason = Some(reason.to_owned());
                }
                let text = choice
                    .pointer("/delta/content")
                    .and_then(Value::as_str)
                    .or_else(|| choice.get("text").and_then(Value::as_str));
                let first_choice = choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0;
                if !first_choice {
                    continue;
                }
                if let Some(text) = text {
                    self.push_text(text);
                }
                let calls = choice
                    .pointer("/delta/tool_calls")
                    .and_then(Value::as_array);
                for delta in calls.into_iter().flatten() {
                    self.apply_chat_tool_delta(delta);
                }
            }
        }
        if let Some(usage) = v.get("usage").and_then(usage_from) {
            self.facts.usage = Some(usage);
        }
    }

    /// `{index, id?, function: {name?, arguments?}}`: the first delta of a call names it, the
    /// next ones carry argument fragments.
    fn apply_chat_tool_delta(&mut self, delta: &Value) {
        let slot = delta.get("index").and_then(Value::as_u64).unwrap_or(0);
        let Some(call) = self.tool_call(slot) else {
            return;
        };
        if let Some(id) = str_of(delta, "id") {
            call.id = Some(id);
        }
        if let Some(name) = delta.pointer("/function/name").and_then(Value::as_str) {
            call.name.push_str(name);
        }
        if let Some(arguments) = delta.pointer("/function/arguments").and_then(Value::as_str) {
            call.append(arguments);
        }
    }

    fn set_model(&mut self, v: &Value) {
        if self.facts.model.is_none() {
            if let Some(model) = v.get("model").and_then(Value::as_str) {
                self.facts.model = Some(model.to_owned());
            }
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.text_truncated {
            return;
        }
        let room = self.text_cap.saturating_sub(self.text.len());
        if text.len() <= room {
            self.text.push_str(text);
        } else {
            let mut cut = room;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&text[..cut]);
            self.text_truncated = true;
        }
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Anthropic starts a streamed tool call with `"input": {}`.
fn is_empty_input(input: &Value) -> bool {
    input.is_null() || input.as_object().is_some_and(|o| o.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const OPENAI: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n",
    );

    const ANTHROPIC: &str = concat!(
        "event: message_start\r\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2048,\"output_tokens\":1}}}\r\n\r\n",
        "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n",
        "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n",
        "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi there\"}}\r\n\r\n",
        "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":87}}\r\n\r\n",
        "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
    );

    fn parse_in_pieces(text: &str, piece: usize) -> StreamSummary {
        let mut parser = SseParser::new(1024);
        for chunk in text.as_bytes().chunks(piece) {
            parser.feed(chunk);
        }
        parser.finish()
    }

    #[test]
    fn openai_chat_stream_in_any_split() {
        for piece in [1, 2, 3, 7, 64, 4096] {
            let s = parse_in_pieces(OPENAI, piece);
            assert_eq!(
                s.facts.model.as_deref(),
                Some("gpt-4o-mini"),
                "piece {piece}"
            );
            assert_eq!(s.facts.finish_reason.as_deref(), Some("stop"));
            let usage = s.facts.usage.clone().unwrap();
            assert_eq!(usage.total_tokens, Some(11));
            assert_eq!(s.text, "Hello");
            assert_eq!(s.events, 4);
            assert!(!s.facts.error);
        }
    }

    #[test]
    fn anthropic_stream_with_crlf_in_any_split() {
        for piece in [1, 5, 4096] {
            let s = parse_in_pieces(ANTHROPIC, piece);
            assert_eq!(s.facts.model.as_deref(), Some("claude-sonnet"));
            assert_eq!(s.facts.finish_reason.as_deref(), Some("end_turn"));
            let usage = s.facts.usage.clone().unwrap();
            assert_eq!(usage.prompt_tokens, Some(12 + 2048));
            assert_eq!(usage.completion_tokens, Some(87));
            assert_eq!(usage.cached_tokens, Some(2048));
            assert_eq!(s.text, "Hi there");
        }
    }

    #[test]
    fn typed_chat_chunks_read_like_the_general_path() {
        let chunks = [
            r#"{"model":"m1","choices":[{"index":0,"delta":{"content":"a\"b"},"finish_reason":null}]}"#,
            r#"{"model":"m2","choices":[{"index":1,"delta":{"content":"skip"},"finish_reason":"length"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":5}]}"#,
            r#"{"choices":[{"index":0,"text":"legacy","finish_reason":"stop"}],"error":{"message":"x"}}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"choices":null,"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            r#"{"choices":[],"usage":null,"error":"not an object"}"#,
        ];
        let mut typed = SseParser::new(1024);
        let mut general = SseParser::new(1024);
        for data in chunks {
            typed.feed(format!("data: {data}\n\n").as_bytes());
            general.events += 1;
            general.apply("", &serde_json::from_str::<Value>(data).unwrap());
        }
        let typed = typed.finish();
        assert_eq!(typed.text, "a\"bclegacy");
        assert!(typed.facts.error);
        assert_eq!(typed.tool_calls.len(), 1);
        assert_eq!(typed, general.finish());
    }

    #[test]
    fn responses_api_stream() {
        let text = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"status\":\"in_progress\"}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"ok\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1,\"total_tokens\":4}}}\n\n",
        );
        let s = parse_in_pieces(text, 3);
        assert_eq!(s.facts.model.as_deref(), Some("gpt-5"));
        assert_eq!(s.facts.finish_reason.as_deref(), Some("completed"));
        assert_eq!(s.facts.usage.unwrap().total_tokens, Some(4));
        assert_eq!(s.text, "ok");
    }

    #[test]
    fn anthropic_tool_use_is_reassembled() {
        let text = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":40,\"cache_creation_input_tokens\":1500,\"cache_read_input_tokens\":0,\"output_tokens\":2}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"Bash\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\": \\\"ls\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" -la\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":31}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        for piece in [1, 9, 4096] {
            let s = parse_in_pieces(text, piece);
            assert_eq!(s.facts.finish_reason.as_deref(), Some("tool_use"));
            assert_eq!(s.facts.usage.clone().unwrap().prompt_tokens, Some(1540));
            assert_eq!(s.text, "Checking.");
            assert_eq!(s.tool_calls.len(), 1);
            let call = &s.tool_calls[0];
            assert_eq!(
                (call.id.as_deref(), call.name.as_str()),
                (Some("toolu_01A"), "Bash")
            );
            assert_eq!(call.input, r#"{"command": "ls -la"}"#);
            let body = s.record_body();
            assert_eq!(body["tool_calls"][0]["name"], "Bash");
            assert_eq!(body["content"], "Checking.");
        }
    }

    #[test]
    fn openai_chat_tool_calls_are_reassembled() {
        let chunk = |delta: &str| {
            format!("data: {{\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}]}}\n\n")
        };
        let text = [
            chunk(r#"{"role":"assistant","tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":""}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}"#),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let s = parse_in_pieces(&text, 5);
        assert_eq!(s.tool_calls.len(), 1);
        assert_eq!(s.tool_calls[0].name, "get_weather");
        assert_eq!(s.tool_calls[0].id.as_deref(), Some("call_A"));
        assert_eq!(s.tool_calls[0].input, r#"{"city":"Oslo"}"#);
        assert!(s.record_body().get("tool_calls").is_some());
        assert!(parse_in_pieces(OPENAI, 7)
            .record_body()
            .get("tool_calls")
            .is_none());
    }

    #[test]
    fn responses_function_calls_are_recorded() {
        let text = concat!(
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\",\"name\":\"shell\",\"arguments\":\"\"}}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"{\\\"cmd\\\":\"}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"[\\\"ls\\\"]}\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\",\"name\":\"shell\",\"arguments\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\"}}\n\n",
        );
        let s = parse_in_pieces(text, 11);
        assert_eq!(s.tool_calls.len(), 1);
        let call = &s.tool_calls[0];
        assert_eq!(
            (call.id.as_deref(), call.name.as_str()),
            (Some("call_9"), "shell")
        );
        assert_eq!(call.input, r#"{"cmd":["ls"]}"#);
    }

    #[test]
    fn tool_input_is_capped() {
        let mut call = StreamToolCall::default();
        call.append(&"é".repeat(MAX_TOOL_INPUT));
        assert!(call.truncated);
        assert!(call.input.len() <= MAX_TOOL_INPUT);
        call.append("more");
        assert!(!call.input.ends_with("more"));
    }

    #[test]
    fn errors_comments_and_cut_streams() {
        let text = ": keep-alive\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\ndata: {\"model\":\"m\",\"choices\":[]}";
        let s = parse_in_pieces(text, 4);
        assert!(s.facts.error);
        // The last event had no blank line: still dispatched at finish.
        assert_eq!(s.facts.model.as_deref(), Some("m"));
    }

    #[test]
    fn text_is_capped_on_a_char_boundary() {
        let mut parser = SseParser::new(5);
        parser.feed(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"héllo wörld\"}}]}\n\n"
                .as_bytes(),
        );
        let s = parser.finish();
        assert!(s.text_truncated);
        assert!(s.text.len() <= 5);
        assert!(s.text.starts_with('h'));
    }

    #[test]
    fn overlong_lines_are_skipped() {
        let mut parser = SseParser::new(16);
        let long = format!("data: {}\n\n", "x".repeat(MAX_LINE + 10));
        parser.feed(long.as_bytes());
        parser.feed(b"data: {\"model\":\"after\"}\n\n");
        assert_eq!(parser.finish().facts.model.as_deref(), Some("after"));
    }
}
