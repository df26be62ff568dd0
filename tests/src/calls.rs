//! Chat calls carrying an `X-Request-ID` the test chose, so every record a sink receives can
//! be traced back to exactly one call.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::client::{self, Reply};

/// How the client asks for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// SSE without `stream_options`: the gateway must ask the upstream for usage itself.
    Stream,
    /// SSE with `stream_options.include_usage: true`.
    StreamWithUsage,
}

#[derive(Debug, Clone)]
pub struct ChatCall {
    pub request_id: String,
    pub session: Option<String>,
    pub mode: Mode,
    /// The user message.
    pub content: String,
    /// Completion tokens the fake upstream answers with (chunks of a stream).
    pub tokens: u32,
}

impl ChatCall {
    pub fn new(request_id: impl Into<String>, mode: Mode) -> Self {
        Self {
            request_id: request_id.into(),
            session: None,
            mode,
            content: "hello".to_owned(),
            tokens: 3,
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": self.content}],
            "stream": self.mode != Mode::Plain,
        });
        if self.mode == Mode::StreamWithUsage {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// Sends the call to `base` with `secret` as bearer, reading the whole answer.
    pub async fn send(&self, client: &awc::Client, base: &str, secret: &str) -> Reply {
        let mut request = client::chat_request(client, base, secret)
            .insert_header(("x-request-id", self.request_id.as_str()))
            .insert_header(("x-fake-chunks", self.tokens.to_string()));
        if let Some(session) = &self.session {
            request = request.insert_header(("x-session-id", session.as_str()));
        }
        Reply::from_send(request.send_json(&self.body()).await).await
    }
}

/// `n` plain calls at once with ids `{prefix}-{i}`; panics unless every one succeeded.
/// Answers the ids.
pub async fn burst(
    client: &awc::Client,
    base: &str,
    secret: &str,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    let calls: Vec<ChatCall> = (0..n)
        .map(|i| ChatCall::new(format!("{prefix}-{i}"), Mode::Plain))
        .collect();
    let replies = join_all(calls.iter().map(|c| c.send(client, base, secret))).await;
    for (call, reply) in calls.iter().zip(&replies) {
        assert!(
            reply.is_upstream_success(),
            "{}: {}",
            call.request_id,
            reply.outcome()
        );
    }
    calls.into_iter().map(|c| c.request_id).collect()
}
