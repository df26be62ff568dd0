//! Removes the usage-only chunk (`"choices":[]` with a `usage` object) from an OpenAI event
//! stream whose client did not ask for usage. Every other byte passes unchanged, each event as
//! soon as its terminating blank line arrived (at most one event is held back).

use bytes::{Bytes, BytesMut};
use serde_json::Value;

#[derive(Debug, Default)]
pub struct UsageChunkFilter {
    pending: BytesMut,
    /// Where scanning of `pending` resumes.
    scanned: usize,
    /// The previous byte ended a line (so a line break now is a blank line).
    at_line_start: bool,
    /// The last terminator was `\r`: a following `\n` belongs to it.
    after_cr: bool,
    /// The last event ended on that `\r`, and was dropped: so is its `\n`.
    event_ended_on_cr: bool,
    last_dropped: bool,
    /// Whether the usage chunk was seen (and dropped).
    pub dropped: bool,
}

impl UsageChunkFilter {
    pub fn new() -> Self {
        Self {
            at_line_start: true,
            ..Self::default()
        }
    }

    /// The bytes the client gets now for `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        let mut i = self.scanned;
        while i < self.pending.len() {
            let b = self.pending[i];
            let after_cr = std::mem::take(&mut self.after_cr);
            let ended_on_cr = std::mem::take(&mut self.event_ended_on_cr);
            if after_cr && b == b'\n' {
                if ended_on_cr && i == 0 {
                    let lf = self.pending.split_to(1);
                    if !self.last_dropped {
                        out.extend_from_slice(&lf);
                    }
                } else {
                    i += 1;
                }
                continue;
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    if self.at_line_start {
                        let event = self.pending.split_to(i + 1);
                        i = 0;
                        self.event_ended_on_cr = b == b'\r';
                        self.emit(event, &mut out);
                    } else {
                        self.at_line_start = true;
                        i += 1;
                    }
                }
                _ => {
                    self.at_line_start = false;
                    i += 1;
                }
            }
        }
        self.scanned = self.pending.len();
        out.freeze()
    }

    /// Whatever is left at the end of the stream (an event without its blank line).
    pub fn finish(&mut self) -> Bytes {
        self.scanned = 0;
        let rest = self.pending.split();
        let mut out = BytesMut::new();
        self.emit(rest, &mut out);
        out.freeze()
    }

    fn emit(&mut self, event: BytesMut, out: &mut BytesMut) {
        self.last_dropped = !self.dropped && is_usage_chunk(&event);
        if self.last_dropped {
            self.dropped = true;
            return;
        }
        out.extend_from_slice(&event);
    }
}

/// `"usage"` followed by an object somewhere in the event: the only candidates worth parsing.
fn mentions_usage_object(event: &[u8]) -> bool {
    let needle = b"\"usage\"";
    event.windows(needle.len()).enumerate().any(|(at, w)| {
        w == needle
            && event[at + needle.len()..]
                .iter()
                .find(|b| !b.is_ascii_whitespace() && **b != b':')
                == Some(&b'{')
    })
}

/// A `data:` event whose JSON has an empty `choices` and a `usage` object.
pub fn is_usage_chunk(event: &[u8]) -> bool {
    if !mentions_usage_object(event) {
        return false;
    }
    let text = String::from_utf8_lossy(event);
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    let Ok(json) = serde_json::from_str::<Value>(&data) else {
        return false;
    };
    json.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && json.get("usage").is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n",
    );

    fn expected(stream: &str) -> String {
        stream
            .split_inclusive("\n\n")
            .filter(|e| !e.contains("\"choices\":[],"))
            .collect()
    }

    fn run(stream: &str, piece: usize) -> (String, bool) {
        let mut filter = UsageChunkFilter::new();
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(piece) {
            out.extend_from_slice(&filter.push(chunk));
        }
        out.extend_from_slice(&filter.finish());
        (String::from_utf8(out).unwrap_or_default(), filter.dropped)
    }

    #[test]
    fn drops_only_the_usage_chunk_in_any_split() {
        for piece in [1, 2, 3, 5, 17, 64, 4096] {
            let (out, dropped) = run(STREAM, piece);
            assert!(dropped, "piece {piece}");
            assert_eq!(out, expected(STREAM), "piece {piece}");
        }
    }

    #[test]
    fn crlf_streams_and_other_events_pass_unchanged() {
        let crlf = STREAM.replace("\n\n", "\r\n\r\n");
        for piece in [1, 3, 4096] {
            let (out, dropped) = run(&crlf, piece);
            assert!(dropped);
            assert!(!out.contains("total_tokens"));
            assert!(out.ends_with("data: [DONE]\r\n\r\n"), "{out:?}");
        }
        let anthropic = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n";
        assert_eq!(run(anthropic, 7), (anthropic.to_owned(), false));
        let cut = "data: {\"choices\":[{\"delta\":{}}]}";
        assert_eq!(run(cut, 4).0, cut);
    }
}
