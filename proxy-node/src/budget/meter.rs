//! [`BudgetMeter`]: wraps an upstream event stream, counts the output it carries event by
//! event, and lets an event through only while the reservation covers it. When it does not,
//! the meter asks for more (one admission call per `budgets.stream_step_tokens`); when the
//! budget has none left, the event is held back, the stream is closed in its own format
//! ([`super::closing`]) and the upstream is dropped.
//!
//! Events pass whole (an event split across reads waits for its end), so a cut never leaves a
//! half event behind; at most one event is held at a time. Output is counted from the text,
//! tool-call arguments and reasoning the deltas carry, at three bytes a token (at least one
//! per delta): usually above the real count, so the stream ends before the budget rather than
//! after it. Settlement uses the real usage.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use awc::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use llm_proxy_platform::ErrorFlavor;
use serde_json::Value;

use super::closing::{closing, StreamKind};
use super::BudgetCall;

type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// An event longer than this without its blank line passes as it is (never held forever).
const MAX_EVENT: usize = 1024 * 1024;
const BYTES_PER_TOKEN: usize = 3;

enum State {
    Running,
    /// The closing events, then the end.
    Closing(Bytes),
    Done,
}

pub struct BudgetMeter {
    upstream: Upstream,
    upstream_done: bool,
    call: BudgetCall,
    flavor: ErrorFlavor,
    buf: BytesMut,
    kind: StreamKind,
    /// Output tokens let through so far (estimated).
    counted: u64,
    /// An event waiting for room, with its tokens.
    held: Option<(Bytes, u64)>,
    extending: Option<Pin<Box<dyn Future<Output = bool>>>>,
    state: State,
}

impl BudgetMeter {
    pub fn new(upstream: Upstream, call: BudgetCall, flavor: ErrorFlavor) -> Self {
        Self {
            upstream,
            upstream_done: false,
            call,
            flavor,
            buf: BytesMut::new(),
            kind: StreamKind::default(),
            counted: 0,
            held: None,
            extending: None,
            state: State::Running,
        }
    }

    /// The next whole event in the buffer (with its blank line).
    fn next_event(&mut self) -> Option<Bytes> {
        let end = event_end(&self.buf).or_else(|| {
            (self.buf.len() > MAX_EVENT || (self.upstream_done && !self.buf.is_empty()))
                .then_some(self.buf.len())
        })?;
        Some(self.buf.split_to(end).freeze())
    }

    /// Learns the stream's format from the event and returns the output tokens it carries.
    fn weigh(&mut self, event: &[u8]) -> u64 {
        let (name, data) = parse(event);
        let Some(data) = data else {
            return 0;
        };
        self.kind.observe(&name, &data);
        let bytes = output_bytes(&name, &data);
        if bytes == 0 {
            0
        } else {
            (bytes.div_ceil(BYTES_PER_TOKEN) as u64).max(1)
        }
    }

    fn cut(&mut self) {
        self.held = None;
        self.call.mark_cut();
        let bytes = closing(&self.kind, self.flavor, self.counted);
        self.state = State::Closing(bytes);
    }
}

impl Stream for BudgetMeter {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Running) {
                State::Done => {
                    this.state = State::Done;
                    return Poll::Ready(None);
                }
                State::Closing(bytes) => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Ok(bytes)));
                }
                State::Running => {}
            }
            if let Some(extending) = &mut this.extending {
                match extending.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(granted) => {
                        this.extending = None;
                        if !granted {
                            this.cut();
                        }
                        continue;
                    }
                }
            }
            if let Some((event, tokens)) = this.held.take() {
                let (_, allowance) = this.call.held();
                if this.counted + tokens <= allowance {
                    this.counted += tokens;
                    return Poll::Ready(Some(Ok(event)));
                }
                let need = this.counted + tokens - allowance;
                let call = this.call.clone();
                this.extending = Some(Box::pin(async move { call.extend(need).await }));
                this.held = Some((event, tokens));
                continue;
            }
            if let Some(event) = this.next_event() {
                let tokens = this.weigh(&event);
                this.held = Some((event, tokens));
                continue;
            }
            if this.upstream_done {
                this.state = State::Done;
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.upstream_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Where the first event ends (after its blank line), for `\n`, `\r\n` and `\r` line ends.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        for sep in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if buf[i..].starts_with(sep) {
                return Some(i + sep.len());
            }
        }
        i += 1;
    }
    None
}

/// The `event:` name and the `data:` lines parsed as JSON.
fn parse(event: &[u8]) -> (String, Option<Value>) {
    let text = String::from_utf8_lossy(event);
    let mut name = String::new();
    let mut data = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (name, serde_json::from_str(&data).ok())
}

fn len(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, str::len)
}

/// Bytes of generated output in one event: text, reasoning and tool-call arguments.
fn output_bytes(name: &str, data: &Value) -> usize {
    let kind = data.get("type").and_then(Value::as_str).unwrap_or(name);
    if let Some(choices) = data.get("choices").and_then(Value::as_array) {
        return choices
            .iter()
            .map(|c| {
                let delta = c.get("delta");
                let d = |k: &str| len(delta.and_then(|d| d.get(k)));
                let tools: usize = delta
                    .and_then(|d| d.get("tool_calls"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        len(t.pointer("/function/arguments")) + len(t.pointer("/function/name"))
                    })
                    .sum();
                d("content")
                    + d("reasoning_content")
                    + d("reasoning")
                    + d("refusal")
                    + tools
                    + len(c.get("text"))
            })
            .sum();
    }
    match kind {
        "content_block_delta" => {
            let delta = data.get("delta");
            ["text", "partial_json", "thinking"]
                .iter()
                .map(|k| len(delta.and_then(|d| d.get(*k))))
                .sum()
        }
        k if k.starts_with("response.") && k.ends_with(".delta") => len(data.get("delta")),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use futures_util::StreamExt;
    use llm_proxy_core::budget::{DisconnectPolicy, Spend};
    use llm_proxy_limits::{
        AdmissionRequest, BudgetAsk, BudgetLimit, DynAdmission, LimitsConfig, MemoryAdmission,
    };
    use uuid::Uuid;

    use super::*;

    async fn call(max_tokens: u64, first_output: u64, step: u64) -> BudgetCall {
        let admission: DynAdmission = Arc::new(MemoryAdmission::new(LimitsConfig::default()));
        let req = AdmissionRequest {
            token_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
            max_requests: None,
            used: 0,
            token_rpm: None,
            project_rpm: None,
            budget: Some(BudgetAsk {
                project: Some(BudgetLimit {
                    period: "life".into(),
                    resets_at: None,
                    max_tokens: Some(max_tokens),
                    max_cost_nano_usd: None,
                    spent: Spend::default(),
                }),
                prompt_tokens: 10,
                min_output: first_output,
                max_output: first_output,
                ..BudgetAsk::default()
            }),
        };
        let reservation = admission.admit(&req).await.unwrap().reservation.unwrap();
        BudgetCall::new(admission, reservation, None, step, DisconnectPolicy::Cancel)
    }

    fn chunk(content: &str) -> String {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    }

    /// The upstream's bytes in pieces of `split` bytes, through a meter; what came out.
    async fn run(call: BudgetCall, body: String, split: usize) -> String {
        let pieces: Vec<Result<Bytes, PayloadError>> = body
            .as_bytes()
            .chunks(split)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let upstream: Upstream = Box::pin(futures_util::stream::iter(pieces));
        let meter = BudgetMeter::new(upstream, call, ErrorFlavor::OpenAi);
        let out: Vec<Bytes> = meter.map(|b| b.unwrap()).collect().await;
        String::from_utf8(out.concat()).unwrap()
    }

    #[tokio::test]
    async fn a_stream_within_its_reservation_passes_unchanged() {
        let body = format!("{}{}data: [DONE]\n\n", chunk("abc"), chunk("def"));
        let c = call(1_000, 100, 10).await;
        let out = run(c.clone(), body.clone(), 7).await;
        assert_eq!(out, body, "byte for byte, whatever the splits");
        assert!(!c.was_cut());
    }

    #[tokio::test]
    async fn a_stream_grows_its_reservation_then_is_cut_at_the_budget() {
        // 10 prompt + 2 output reserved, steps of 3, a budget of 30: 20 output tokens at most.
        let body: String = (0..40).map(|_| chunk("abc")).collect::<String>() + "data: [DONE]\n\n";
        let c = call(30, 2, 3).await;
        let out = run(c.clone(), body, 11).await;
        assert!(c.was_cut());
        let data: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        let content = data
            .iter()
            .filter(|d| d.contains(r#""content":"abc""#))
            .count();
        assert_eq!(content, 20, "one token a chunk, 20 fit");
        let tail = &data[data.len() - 3..];
        assert!(tail[0].contains(r#""finish_reason":"length""#), "{out}");
        assert!(tail[1].contains(r#""code":"budget_exceeded""#));
        assert_eq!(tail[2], "[DONE]");
        assert_eq!(c.held(), (10, 20));
    }
}
