//! The client connection's IO, seen by actix-http through this wrapper. Request heads are held
//! back until complete and checked ([`head::inspect`]); a head actix-http would answer with a
//! bare 400/431, or one that does not complete within the client request timeout (408), is
//! replaced by a request for the gateway's own rejection route, so actix answers it in order,
//! in the JSON envelope, and closes. Body bytes pass straight through and are only counted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::chunked::Chunked;
use super::head::{self, Body, Rejection};
use super::reject;

/// Input read and dropped after a rejection, so that closing does not reset the connection
/// before the client read the answer; past this the rest is left unread.
const DISCARD_LIMIT: usize = 1024 * 1024;

enum Phase {
    Head,
    Length(u64),
    Chunked(Chunked),
    /// Upgraded, or framing actix-http will refuse itself: nothing more is checked.
    Opaque,
    Rejected {
        discarded: usize,
    },
}

pub struct Guarded<T> {
    io: T,
    phase: Phase,
    /// Bytes of a head (and what followed it) not yet handed to actix.
    held: BytesMut,
    /// Checked bytes still to hand to actix.
    ready: BytesMut,
    head_timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> Guarded<T> {
    /// `head_timeout` (zero: none) runs from the connection's start for the first head and
    /// from its first byte for later ones.
    pub fn new(io: T, head_timeout: Duration) -> Self {
        let mut guarded = Self {
            io,
            phase: Phase::Head,
            held: BytesMut::new(),
            ready: BytesMut::new(),
            head_timeout,
            timer: None,
        };
        guarded.start_timer();
        guarded
    }

    fn start_timer(&mut self) {
        if self.timer.is_none() && !self.head_timeout.is_zero() {
            self.timer = Some(Box::pin(tokio::time::sleep(self.head_timeout)));
        }
    }

    fn reject(&mut self, rejection: Rejection) {
        tracing::debug!(reason = rejection.as_str(), "request head refused");
        self.held.clear();
        self.timer = None;
        self.ready.extend_from_slice(&reject::request(rejection));
        self.phase = Phase::Rejected { discarded: 0 };
    }

    /// Counts body bytes; returns how many of `bytes` belong to the current body.
    fn observe_body(&mut self, bytes: &[u8]) -> usize {
        let (used, ended) = match &mut self.phase {
            Phase::Length(left) => {
                let used = (*left).min(bytes.len() as u64);
                *left -= used;
                (used as usize, *left == 0)
            }
            Phase::Chunked(chunked) => match chunked.advance(bytes) {
                Ok(Some(used)) => (used, true),
                Ok(None) => (bytes.len(), false),
                Err(_) => {
                    self.phase = Phase::Opaque;
                    (bytes.len(), false)
                }
            },
            _ => (bytes.len(), false),
        };
        if ended {
            self.phase = Phase::Head;
        }
        used
    }

    /// Moves what can be checked from `held` to `ready`.
    fn process_held(&mut self) {
        loop {
            if self.held.is_empty() {
                return;
            }
            match self.phase {
                Phase::Head => {
                    self.start_timer();
                    match head::inspect(&self.held) {
                        Ok(Some((len, body))) => {
                            self.timer = None;
                            self.ready.extend_from_slice(&self.held.split_to(len));
                            self.phase = match body {
                                Body::None => Phase::Head,
                                Body::Length(n) => Phase::Length(n),
                                Body::Chunked => Phase::Chunked(Chunked::default()),
                                Body::Opaque => Phase::Opaque,
                            };
                        }
                        Ok(None) => return,
                        Err(rejection) => return self.reject(rejection),
                    }
                }
                Phase::Length(_) | Phase::Chunked(_) => {
                    let held = self.held.split();
                    let used = self.observe_body(&held);
                    self.ready.extend_from_slice(&held[..used]);
                    self.held.extend_from_slice(&held[used..]);
                }
                Phase::Opaque => {
                    let held = self.held.split();
                    self.ready.extend_from_slice(&held);
                }
                Phase::Rejected { .. } => {
                    self.held.clear();
                    return;
                }
            }
        }
    }

    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        matches!(self.phase, Phase::Head)
            && self
                .timer
                .as_mut()
                .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
    }
}

impl<T: AsyncRead + Unpin> Guarded<T> {
    fn discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 8192];
        while let Phase::Rejected { discarded } = &mut self.phase {
            if *discarded >= DISCARD_LIMIT {
                break;
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    *discarded += buf.filled().len();
                }
                _ => break,
            }
        }
        // Never an end of stream: actix would take it for a client that left and drop the
        // answer. It closes the connection after the answer (`Connection: close`).
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match this.phase {
                Phase::Opaque => return Pin::new(&mut this.io).poll_read(cx, buf),
                Phase::Rejected { .. } => return this.discard(cx),
                Phase::Length(_) | Phase::Chunked(_) => {
                    // The body goes straight into actix's buffer.
                    let start = buf.filled().len();
                    std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let end = buf.filled().len();
                    if end == start {
                        return Poll::Ready(Ok(()));
                    }
                    let used = this.observe_body(&buf.filled()[start..end]);
                    if used < end - start {
                        this.held
                            .extend_from_slice(&buf.filled()[start + used..end]);
                        buf.set_filled(start + used);
                        this.process_held();
                    }
                    if buf.filled().len() > start {
                        return Poll::Ready(Ok(()));
                    }
                }
                Phase::Head => {
                    // Read into actix's buffer (no zeroed scratch on every poll: the dispatcher
                    // polls reads once per streamed chunk), then take the bytes back to hold.
                    let start = buf.filled().len();
                    match Pin::new(&mut this.io).poll_read(cx, buf) {
                        Poll::Pending => {
                            if this.timed_out(cx) {
                                this.reject(Rejection::Timeout);
                                continue;
                            }
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        // The end of the stream, perhaps mid-head: actix sees it as it is.
                        Poll::Ready(Ok(())) if buf.filled().len() == start => {
                            return Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Ok(())) => {
                            this.held.extend_from_slice(&buf.filled()[start..]);
                            buf.set_filled(start);
                            this.process_held();
                        }
                    }
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
