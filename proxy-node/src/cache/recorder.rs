//! Keeps a copy of an answer as the client gets it, and stores it once it ended well: the whole
//! body arrived, within `cache.max_object_bytes`, and an event stream reached its terminal
//! event (`[DONE]`, `message_stop`, `response.completed`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::entry::Meta;
use super::{now_ms, Lookup, ResponseCache};

/// Stream endings that mean the answer is complete.
const TERMINAL: &[&[u8]] = &[
    b"data: [DONE]",
    b"data:[DONE]",
    b"event: message_stop",
    b"\"type\":\"message_stop\"",
    b"\"type\":\"response.completed\"",
];

/// How far from the end the terminal event is looked for.
const TAIL: usize = 16 * 1024;

pub struct Recorder {
    cache: ResponseCache,
    lookup: Arc<Lookup>,
    status: u16,
    headers: Vec<(String, String)>,
    ttl: Duration,
    vary: Vec<String>,
    stream: bool,
    max: usize,
    buf: BytesMut,
    overflow: bool,
}

impl Recorder {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        cache: ResponseCache,
        lookup: Arc<Lookup>,
        status: u16,
        headers: Vec<(String, String)>,
        ttl: Duration,
        vary: Vec<String>,
        stream: bool,
        max: usize,
    ) -> Self {
        Self {
            cache,
            lookup,
            status,
            headers,
            ttl,
            vary,
            stream,
            max,
            buf: BytesMut::new(),
            overflow: false,
        }
    }

    pub fn key(&self) -> &str {
        &self.lookup.primary
    }

    pub fn observe(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.buf.len() + bytes.len() > self.max {
            self.overflow = true;
            self.buf = BytesMut::new();
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn complete(&self) -> bool {
        if self.overflow {
            return false;
        }
        if !self.stream {
            return true;
        }
        let tail = &self.buf[self.buf.len().saturating_sub(TAIL)..];
        TERMINAL
            .iter()
            .any(|marker| tail.windows(marker.len()).any(|w| w == *marker))
    }

    /// Stores the answer if it ended well (`eof` and no error inside it); returns whether it
    /// is being stored. The write happens in the background.
    pub fn finish(self, eof: bool, upstream_error: bool) -> bool {
        if !eof || upstream_error || !self.complete() {
            return false;
        }
        let meta = Meta {
            status: self.status,
            headers: self.headers,
            stored_at_ms: now_ms(),
            ttl_secs: self.ttl.as_secs().max(1),
            stream: self.stream,
        };
        let body: Bytes = self.buf.freeze();
        let (cache, lookup, vary, ttl) = (self.cache, self.lookup, self.vary, self.ttl);
        actix_rt::spawn(async move {
            if let Err(e) = cache.put(&lookup, vary, meta, body, ttl).await {
                if let Some(metrics) = cache.metrics() {
                    metrics.cache_error();
                }
                tracing::warn!(error = %e, "cannot store an answer in the response cache");
            }
        });
        true
    }
}
