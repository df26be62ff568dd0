//! Upstream connection reuse: a pooled keep-alive connection that the upstream closes (or
//! resets) as the next request arrives is resent once on a new connection, the client sees 200
//! and the breaker stays closed; a connection that broke after response bytes arrived, or that
//! was new, is not resent; an idle connection older than the provider's
//! `pool_idle_timeout_ms` is not reused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::helpers::{assert_error, spawn_app_with, TestApp};

/// What the fake upstream does with the second request on a connection.
#[derive(Clone, Copy)]
enum Second {
    /// Closes the connection without a byte of answer (its keep-alive ran out).
    Close,
    /// Resets the connection (RST).
    Reset,
    /// Sends part of a response head, then closes.
    PartialHead,
    /// Answers it, like the first.
    Answer,
    /// Closes every connection at its first request, unanswered.
    HangUp,
}

/// A keep-alive upstream that answers the first request on each connection and treats the
/// second as `second` says (a closed connection never sees a third).
struct KeepAliveUpstream {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl KeepAliveUpstream {
    fn start(second: Second) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let r = Arc::clone(&r);
                std::thread::spawn(move || serve(stream, second, &r));
            }
        });
        Self {
            port,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, second: Second, requests: &AtomicUsize) {
    let mut served = 0;
    while read_request(&mut stream) {
        requests.fetch_add(1, Ordering::SeqCst);
        served += 1;
        match (served, second) {
            (_, Second::HangUp) => return,
            (1, _) | (_, Second::Answer) => {
                if stream.write_all(&completion()).is_err() {
                    return;
                }
            }
            (_, Second::Close) => return,
            (_, Second::Reset) => {
                // A zero linger turns the close into a reset.
                let socket = socket2::SockRef::from(&stream);
                let _ = socket.set_linger(Some(std::time::Duration::ZERO));
                return;
            }
            (_, Second::PartialHead) => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
                return;
            }
        }
    }
}

/// Reads one request (head and `Content-Length` body); false at the end of the connection.
fn read_request(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).is_ok()
}

fn completion() -> Vec<u8> {
    let body = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
    .to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One worker (one connection pool), a breaker that would open after two counted failures,
/// and the given pool idle time.
async fn app_for(upstream: &KeepAliveUpstream, pool_idle_ms: u64) -> TestApp {
    let port = upstream.port;
    spawn_app_with(move |s, _| {
        s.server.workers = Some(1);
        s.resilience.breaker.failure_threshold = 2;
        s.resilience.breaker.open_secs = 30;
        if let Some(openai) = s.providers.get_mut("openai") {
            openai.base_url = format!("http://127.0.0.1:{port}");
            openai.pool_idle_timeout_ms = pool_idle_ms;
        }
    })
    .await
}

async fn chat(app: &TestApp, bearer: &str) -> (u16, awc::http::header::HeaderMap, Value) {
    app.send_json(app.chat(bearer), &TestApp::chat_body(false))
        .await
}

async fn closed_pooled_connections_are_resent_on_a_new_one(second: Second) {
    let upstream = KeepAliveUpstream::start(second);
    let app = app_for(&upstream, 60_000).await;
    let s = app.seed().await;
    let cycles = 5;
    for cycle in 0..cycles {
        // The first call opens a connection and leaves it in the pool; the second gets it,
        // the upstream drops it, and the gateway resends on a new connection.
        for call in 0..2 {
            let (status, _, body) = chat(&app, &s.bearer()).await;
            assert_eq!(status, 200, "cycle {cycle}, call {call}: {body}");
        }
    }
    assert_eq!(upstream.connections(), 2 * cycles);
    assert_eq!(upstream.requests(), 3 * cycles);
    let events = app.events(2 * cycles).await;
    let attempts: Vec<u64> = events
        .iter()
        .map(|e| e["attempts"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        attempts.iter().filter(|&&a| a == 2).count(),
        cycles,
        "{attempts:?}"
    );
    assert_eq!(
        attempts.iter().filter(|&&a| a == 1).count(),
        cycles,
        "{attempts:?}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            "llm_proxy_upstream_errors_total{{provider=\"openai\",kind=\"stale_connection\"}} {cycles}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "llm_proxy_upstream_retries_total{{provider=\"openai\"}} {cycles}"
        )),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"to="open""#), "{metrics}");
    app.stop().await;
}

#[actix_web::test]
async fn a_pooled_connection_closed_by_the_upstream_is_resent_on_a_new_one() {
    closed_pooled_connections_are_resent_on_a_new_one(Second::Close).await;
}

#[actix_web::test]
async fn a_pooled_connection_reset_by_the_upstream_is_resent_on_a_new_one() {
    closed_pooled_connections_are_resent_on_a_new_one(Second::Reset).await;
}

#[actix_web::test]
async fn a_connection_that_broke_after_response_bytes_is_not_resent() {
    let upstream = KeepAliveUpstream::start(Second::PartialHead);
    let app = app_for(&upstream, 60_000).await;
    let s = app.seed().await;
    let (status, _, body) = chat(&app, &s.bearer()).await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = chat(&app, &s.bearer()).await;
    assert_error(status, &headers, &body, 502, "upstream_unreachable");
    assert_eq!(upstream.requests(), 2, "the POST was sent once");
    assert_eq!(upstream.connections(), 1);
    let events = app.events(2).await;
    assert!(events.iter().all(|e| e["attempts"] == 1), "{events:?}");
    app.stop().await;
}

#[actix_web::test]
async fn a_new_connection_that_closes_is_not_resent() {
    // The connection was new, so the upstream may have seen the request: 502, sent once.
    let upstream = KeepAliveUpstream::start(Second::HangUp);
    let app = app_for(&upstream, 60_000).await;
    let s = app.seed().await;
    for call in 1..=3 {
        let (status, headers, body) = chat(&app, &s.bearer()).await;
        assert_error(status, &headers, &body, 502, "upstream_unreachable");
        assert_eq!(upstream.requests(), call);
    }
    assert_eq!(upstream.connections(), 3);
    let metrics = app.metrics().await;
    assert!(!metrics.contains("stale_connection"), "{metrics}");
    app.stop().await;
}

#[actix_web::test]
async fn idle_connections_are_reused_within_the_pool_idle_time() {
    let upstream = KeepAliveUpstream::start(Second::Answer);
    let app = app_for(&upstream, 60_000).await;
    let s = app.seed().await;
    for _ in 0..3 {
        let (status, _, body) = chat(&app, &s.bearer()).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(upstream.connections(), 1);
    assert_eq!(upstream.requests(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn idle_connections_past_the_pool_idle_time_are_not_reused() {
    let upstream = KeepAliveUpstream::start(Second::Answer);
    // Zero: every pooled connection has been idle longer than that when the next call comes.
    let app = app_for(&upstream, 0).await;
    let s = app.seed().await;
    for _ in 0..3 {
        let (status, _, body) = chat(&app, &s.bearer()).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(upstream.connections(), 3);
    assert_eq!(upstream.requests(), 3);
    app.stop().await;
}
