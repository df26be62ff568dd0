//! One streamed request over a fresh HTTP/1.1 connection, timed read by read.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Options;

const BODY: &str =
    r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}"#;
const EVENT: &[u8] = b"data:";
const CHUNKED_END: &[u8] = b"\r\n0\r\n\r\n";

/// Where to connect and the exact bytes to send.
pub struct Target {
    authority: String,
    request: Vec<u8>,
}

impl Target {
    pub fn new(options: &Options) -> Self {
        let rest = options.url.strip_prefix("http://").unwrap_or(&options.url);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let auth = options
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        Self {
            authority: authority.to_owned(),
            request: request.into_bytes(),
        }
    }
}

/// What one stream looked like from the client.
#[derive(Debug, Clone)]
pub struct StreamTiming {
    /// From writing the request to the first `data:` event.
    pub first_event: Option<Duration>,
    /// Between successive reads that carried events.
    pub gaps: Vec<Duration>,
    pub events: usize,
    /// Reads that carried more than one event (a chunk held back and sent with the next).
    pub coalesced: usize,
}

/// Sends the request and reads until the chunked body ends or the peer closes.
/// `on_open` runs once, when the first event arrives.
pub async fn one(target: &Target, on_open: impl FnOnce()) -> Result<StreamTiming, String> {
    let mut socket = TcpStream::connect(&target.authority)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    socket
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let sent = Instant::now();
    socket
        .write_all(&target.request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut timing = StreamTiming {
        first_event: None,
        gaps: Vec::new(),
        events: 0,
        coalesced: 0,
    };
    let mut on_open = Some(on_open);
    let mut status_checked = false;
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut last_event: Option<Instant> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = socket
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let now = Instant::now();
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if !status_checked {
            head.extend_from_slice(chunk);
            if let Some(line_end) = head.windows(2).position(|w| w == b"\r\n") {
                check_status(&head[..line_end])?;
                status_checked = true;
            }
        }
        tail.extend_from_slice(chunk);
        let found = count(&tail, EVENT);
        if found > 0 {
            timing.events += found;
            if found > 1 {
                timing.coalesced += 1;
            }
            match last_event {
                None => {
                    timing.first_event = Some(now - sent);
                    if let Some(f) = on_open.take() {
                        f();
                    }
                }
                Some(previous) => timing.gaps.push(now - previous),
            }
            last_event = Some(now);
        }
        if tail.ends_with(CHUNKED_END) {
            break;
        }
        let keep = tail.len().min(CHUNKED_END.len());
        tail.drain(..tail.len() - keep);
        // What was kept has been counted; only a partial `data:` prefix may be carried over.
        if count(&tail, EVENT) > 0 {
            tail.clear();
        }
    }
    if !status_checked {
        return Err("connection closed before a status line".to_owned());
    }
    Ok(timing)
}

fn check_status(line: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(line);
    match text.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("status line {text:?}")),
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
