//! Request heads refused at the connection (what actix-http would answer with a bare 400, 431
//! or 408) get the JSON envelope on any request of a keep-alive connection, in order after the
//! answers before them, and the connection closes; bodies in between (sized and chunked) are
//! framed right, so good requests on the same connection keep working.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn connect(app: &TestApp) -> TcpStream {
    let port: u16 = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", app.address));
    TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Reads one response (sized or chunked) from `buf` + the connection: status, head, body.
async fn response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = complete(buf) {
            let (status, head, body, used) = found;
            buf.drain(..used);
            return (status, head, body);
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "no complete response ({other:?}): {}",
                String::from_utf8_lossy(buf)
            ),
        }
    }
}

fn complete(buf: &[u8]) -> Option<(u16, String, String, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let rest = &buf[end..];
    if head.contains("transfer-encoding: chunked") {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[at..line_end]).ok()?, 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                return (rest.len() >= at + 2).then(|| {
                    (
                        status,
                        head,
                        String::from_utf8_lossy(&body).into_owned(),
                        end + at + 2,
                    )
                });
            }
            if rest.len() < at + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (rest.len() >= length).then(|| {
        let body = String::from_utf8_lossy(&rest[..length]).into_owned();
        (status, head, body, end + length)
    })
}

/// After the connection's last answer, the server closes it.
async fn closed(conn: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the connection stayed open: {read:?}"
    );
}

fn code(body: &str) -> Value {
    serde_json::from_str::<Value>(body)
        .map(|v| v["error"]["code"].clone())
        .unwrap_or(Value::Null)
}

fn chat_head(bearer: &str, framing: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\nContent-Type: application/json\r\n{framing}\r\n"
    )
}

#[actix_web::test]
async fn a_bad_head_after_good_requests_gets_the_envelope() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let body = serde_json::to_string(&TestApp::chat_body(false)).unwrap_or_default();
    let mut conn = connect(&app).await;
    let mut buf = Vec::new();
    // A sized body, then a chunked one, then a head with a CR in a value.
    let sized = format!(
        "{}{body}",
        chat_head(&s.bearer(), &format!("Content-Length: {}\r\n", body.len()))
    );
    conn.write_all(sized.as_bytes()).await.unwrap_or_default();
    let (status, _, answer) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 200, "{answer}");
    let (first, second) = body.split_at(10);
    let chunked = format!(
        "{}{:x}\r\n{first}\r\n{:x};ext=1\r\n{second}\r\n0\r\n\r\n",
        chat_head(&s.bearer(), "Transfer-Encoding: chunked\r\n"),
        first.len(),
        second.len()
    );
    conn.write_all(chunked.as_bytes()).await.unwrap_or_default();
    let (status, _, answer) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 200, "{answer}");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n")
        .await
        .unwrap_or_default();
    let (status, head, answer) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 400, "{answer}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(code(&answer), "invalid_request");
    closed(&mut conn).await;
    assert_eq!(app.upstream.request_count(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn pipelined_requests_are_answered_in_order_up_to_the_bad_one() {
    let app = spawn_app().await;
    let mut conn = connect(&app).await;
    let mut buf = Vec::new();
    let padding = "p".repeat(140 * 1024);
    let requests = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {padding}\r\n\r\n"
    );
    conn.write_all(requests.as_bytes())
        .await
        .unwrap_or_default();
    for _ in 0..2 {
        let (status, _, answer) = response(&mut conn, &mut buf).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, _, answer) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 431, "{answer}");
    assert_eq!(code(&answer), "headers_too_large");
    closed(&mut conn).await;
    app.stop().await;
}

#[actix_web::test]
async fn a_slow_head_on_a_kept_alive_connection_times_out_in_the_envelope() {
    let app = spawn_app_with(|s, _| s.server.client_request_timeout_ms = 500).await;
    let mut conn = connect(&app).await;
    let mut buf = Vec::new();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap_or_default();
    let (status, _, _) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 200);
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .unwrap_or_default();
    let (status, _, answer) = response(&mut conn, &mut buf).await;
    assert_eq!(status, 408, "{answer}");
    assert_eq!(code(&answer), "request_timeout");
    closed(&mut conn).await;
    app.stop().await;
}

#[actix_web::test]
async fn malformed_framing_headers_get_the_envelope() {
    let app = spawn_app().await;
    for head in [
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /he\u{7f}lthz HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut conn = connect(&app).await;
        let mut buf = Vec::new();
        conn.write_all(head.as_bytes()).await.unwrap_or_default();
        let (status, _, answer) = response(&mut conn, &mut buf).await;
        assert_eq!(status, 400, "{head:?}: {answer}");
        assert_eq!(code(&answer), "invalid_request", "{head:?}");
        closed(&mut conn).await;
    }
    app.stop().await;
}
