//! Calls a client of the gateway makes, and tallies of what came back.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

/// Largest body read from any reply.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// One awc client per test: enough connections for the biggest burst, a generous timeout.
pub fn http_client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(2048))
        .timeout(Duration::from_secs(60))
        .finish()
}

/// A chat completion body; `stream` asks for SSE.
pub fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": stream,
    })
}

/// `POST {base}/v1/chat/completions` with the token as bearer.
pub fn chat_request(client: &awc::Client, base: &str, secret: &str) -> awc::ClientRequest {
    client
        .post(format!("{base}/v1/chat/completions"))
        .insert_header(("authorization", format!("Bearer {secret}")))
}

/// One non-streaming chat call, whatever happens.
pub async fn chat(client: &awc::Client, base: &str, secret: &str) -> Reply {
    Reply::from_send(
        chat_request(client, base, secret)
            .send_json(&chat_body(false))
            .await,
    )
    .await
}

/// A streamed chat call whose response head arrived (the request was admitted); the body is
/// left to the caller. `chunks` tokens arrive `interval_ms` apart (the fake upstream's pacing).
pub async fn open_stream(
    client: &awc::Client,
    base: &str,
    secret: &str,
    chunks: u32,
    interval_ms: u64,
) -> awc::ClientResponse {
    let response = chat_request(client, base, secret)
        .insert_header(("x-fake-chunks", chunks.to_string()))
        .insert_header(("x-fake-interval-ms", interval_ms.to_string()))
        .send_json(&chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("stream via {base}: {e}"));
    if response.status().as_u16() != 200 {
        let reply = Reply::read(response).await;
        panic!("stream via {base} refused: {}", reply.outcome());
    }
    response
}

/// What a call produced: status, headers and body, or the transport error (status 0).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub transport_error: Option<String>,
}

impl Reply {
    pub async fn from_send<S>(
        sent: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    ) -> Self
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        match sent {
            Ok(response) => Self::read(response).await,
            Err(e) => Self::failed(e.to_string()),
        }
    }

    pub async fn read<S>(mut response: awc::ClientResponse<S>) -> Self
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut transport_error = None;
        while let Some(chunk) = response.next().await {
            match chunk {
                Ok(bytes) if body.len() + bytes.len() <= BODY_LIMIT => {
                    body.extend_from_slice(&bytes)
                }
                Ok(_) => {
                    transport_error = Some(format!("body over {BODY_LIMIT} bytes"));
                    break;
                }
                Err(e) => {
                    transport_error = Some(e.to_string());
                    break;
                }
            }
        }
        Self {
            status,
            headers,
            body,
            transport_error,
        }
    }

    pub fn failed(error: String) -> Self {
        Self {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
            transport_error: Some(error),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `error.code` of a gateway error body.
    pub fn code(&self) -> Option<String> {
        self.json()
            .pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A complete answer that came from the upstream.
    pub fn is_upstream_success(&self) -> bool {
        self.status == 200 && self.transport_error.is_none()
    }

    pub fn is_degraded(&self) -> bool {
        self.header("x-llm-proxy-degraded") == Some("1")
    }

    /// `status code`, e.g. `429 quota_exceeded`, `200 -`, or `0 <transport error>`.
    pub fn outcome(&self) -> String {
        match (&self.transport_error, self.code()) {
            (Some(e), _) if self.status == 0 => format!("0 {e}"),
            (Some(e), _) => format!("{} broken: {e}", self.status),
            (None, Some(code)) => format!("{} {code}", self.status),
            (None, None) => format!("{} -", self.status),
        }
    }
}

/// Counts of outcomes (`"429 quota_exceeded" → 300`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<String, usize>);

impl Tally {
    pub fn of<'a>(replies: impl IntoIterator<Item = &'a Reply>) -> Self {
        let mut tally = Self::default();
        for reply in replies {
            *tally.0.entry(reply.outcome()).or_default() += 1;
        }
        tally
    }

    pub fn count(&self, outcome: &str) -> usize {
        self.0.get(outcome).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(f, "{{{}}}", parts.join(", "))
    }
}
