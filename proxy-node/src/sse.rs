//! Incremental Server-Sent Events parser for the event record: model, usage, finish reason and
//! the reassembled text of OpenAI chat/Responses streams and Anthropic Messages streams.
//! Fed the bytes exactly as they arrive (any split), never buffers more than one line.

use serde_json::Value;

use crate::usage::{usage_from, AnthropicUsage, ResponseFacts};

/// Lines longer than this are skipped (no legitimate event carries one).
const MAX_LINE: usize = 1024 * 1024;

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
}

/// The parser's result.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamSummary {
    pub facts: ResponseFacts,
    /// Assistant text reassembled from the deltas, at most `text_cap` bytes.
    pub text: String,
    pub text_truncated: bool,
    pub events: u64,
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

    fn end_line(&mut self) {
        if std::mem::take(&mut self.skipping_line) {
            return;
        }
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch();
            return;
        }
        let line = String::from_utf8_lossy(&line);
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        self.events += 1;
        if let Ok(json) = serde_json::from_str::<Value>(&data) {
            self.apply(&event, &json);
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
            "content_block_delta" => {
                if let Some(text) = v.pointer("/delta/text").and_then(Value::as_str) {
                    self.push_text(text);
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
                if let Some(text) = text {
                    if choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0 {
                        self.push_text(text);
                    }
                }
            }
        }
        if let Some(usage) = v.get("usage").and_then(usage_from) {
            self.facts.usage = Some(usage);
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
