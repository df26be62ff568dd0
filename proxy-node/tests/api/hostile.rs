//! Hostile input: each case gets a clear 4xx (a JSON error wherever the request reached the
//! gateway's handler) and the gateway keeps serving. Also: no provider key or token secret in
//! any log line or event of a run full of such requests.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    assert_error, captured_logs, events_text, spawn_app, spawn_app_with, TestApp, ANTHROPIC_KEY,
    OPENAI_KEY,
};

fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", app.address))
}

/// Sends raw bytes, reads until the server closes or `wait` passes; the status and body.
async fn raw(app: &TestApp, request: &[u8], wait: Duration) -> (Option<u16>, String) {
    let mut conn = TcpStream::connect(("127.0.0.1", port(app)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    conn.write_all(request)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    read_answer(&mut conn, wait).await
}

async fn read_answer(conn: &mut TcpStream, wait: Duration) -> (Option<u16>, String) {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn code(body: &str) -> Value {
    serde_json::from_str::<Value>(body)
        .map(|v| v["error"]["code"].clone())
        .unwrap_or(Value::Null)
}

async fn still_serving(app: &TestApp, bearer: &str) {
    let (status, _, body) = app
        .send_json(app.chat(bearer), &TestApp::chat_body(false))
        .await;
    assert_eq!(status, 200, "the gateway stopped serving: {body}");
}

#[actix_web::test]
async fn malformed_json_and_wrong_content_types() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let json_ct = ("content-type", "application/json");
    let send = |body: Vec<u8>, ct: (&'static str, &'static str)| {
        let request = app.chat(&s.bearer()).insert_header(ct);
        async move {
            let mut response = request
                .send_body(body)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            crate::helpers::read_all(&mut response).await
        }
    };
    for body in [
        b"{not json".to_vec(),
        b"{\"model\":\"gpt-4o-mini\",".to_vec(),
        format!("{{\"model\":{}1{}}}", "[".repeat(500), "]".repeat(500)).into_bytes(),
        vec![0xff, 0xfe, b'{'],
    ] {
        let (status, headers, body) = send(body, json_ct).await;
        assert_error(status, &headers, &body, 400, "invalid_request");
    }
    for ct in ["text/xml", "text/plain", "application/yaml"] {
        let (status, headers, body) = send(b"<a>1</a>".to_vec(), ("content-type", ct)).await;
        assert_error(status, &headers, &body, 415, "unsupported_media_type");
    }
    assert_eq!(app.upstream.request_count(), 0);
    still_serving(&app, &s.bearer()).await;
    app.stop().await;
}

#[actix_web::test]
async fn huge_bodies_and_huge_headers() {
    let app = spawn_app_with(|s, _| {
        s.server.max_body_bytes = 4096;
        s.server.max_header_bytes = 8192;
    })
    .await;
    let s = app.seed().await;
    let big = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let (status, headers, body) = app.send_json(app.chat(&s.bearer()), &big).await;
    assert_error(status, &headers, &body, 413, "payload_too_large");
    // Chunked, no length declared.
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1000]))),
    );
    let mut response = app
        .chat(&s.bearer())
        .insert_header(("content-type", "application/json"))
        .send_stream(chunks)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, headers, body) = crate::helpers::read_all(&mut response).await;
    assert_error(status, &headers, &body, 413, "payload_too_large");

    // Over our limit: 431 in the envelope.
    let (status, headers, body) = app
        .send_json(
            app.chat(&s.bearer())
                .insert_header(("x-padding", "p".repeat(10_000))),
            &TestApp::chat_body(false),
        )
        .await;
    assert_error(status, &headers, &body, 431, "headers_too_large");
    // Over actix's own 128 KiB head buffer: 431 from the connection layer, in the envelope.
    let request = format!(
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(200_000)
    );
    let (status, body) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status, Some(431), "{body}");
    assert_eq!(code(&body), "headers_too_large");
    // More headers than actix parses (96): 431 too.
    let many: String = (0..120).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let request = format!("GET /v1/models HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let (status, body) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status, Some(431), "{body}");
    assert_eq!(code(&body), "headers_too_large");
    assert_eq!(app.upstream.request_count(), 0);
    still_serving(&app, &s.bearer()).await;
    app.stop().await;
}

#[actix_web::test]
async fn header_injection_never_reaches_the_upstream() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let auth = s.bearer();
    // A CR inside a header value is a malformed request: refused by the HTTP layer.
    for value in ["a\rX-Injected: 1", "a\r\rX-Injected: 1", "a\u{0}b"] {
        let request = format!(
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nX-Note: {value}\r\n\r\n"
        );
        let (status, body) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(status, Some(400), "{value:?}: {body}");
        assert_eq!(code(&body), "invalid_request", "{value:?}");
    }
    // A bare LF ends the line (RFC 9112 lets a server read it so): two headers of the client's
    // own, never a value with a line break in it.
    let request = format!(
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nX-Note: a\nX-Second: 1\r\n\r\n"
    );
    let (status, _) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status, Some(200));
    // Encoded CR/LF in the query stay encoded on the way up.
    let (status, _, _) = app
        .send(
            app.client
                .get(app.url("/v1/models?q=%0d%0aX-Smuggled:%201"))
                .insert_header(("authorization", auth.as_str())),
        )
        .await;
    assert_eq!(status, 200);
    // A request id with odd characters is replaced, never echoed.
    let (_, headers, _) = app
        .send(
            app.client
                .get(app.url("/v1/models"))
                .insert_header(("authorization", auth.as_str()))
                .insert_header(("x-request-id", "id with spaces;<script>")),
        )
        .await;
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(!id.contains(' ') && !id.is_empty(), "{id}");
    for request in app.upstream.requests() {
        assert!(request.header("x-injected").is_none(), "{request:?}");
        assert!(request.header("x-smuggled").is_none(), "{request:?}");
        assert!(!request
            .headers
            .iter()
            .any(|(_, v)| v.contains('\r') || v.contains('\n')));
    }
    still_serving(&app, &auth).await;
    app.stop().await;
}

#[actix_web::test]
async fn path_traversal_encoded_tricks_and_foreign_hosts_are_refused() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let p = app.upstream.port();
    let cases: Vec<(String, u16, &str)> = vec![
        ("/v1/../admin".into(), 400, "invalid_request"),
        ("/v1/./models".into(), 400, "invalid_request"),
        ("/v1/%2e%2e/admin".into(), 400, "invalid_request"),
        ("/v1/%2E%2E/admin".into(), 400, "invalid_request"),
        ("/openai/..%2f..%2fadmin".into(), 400, "invalid_request"),
        (
            "/openai/%2e%2e/%2e%2e/etc/passwd".into(),
            400,
            "invalid_request",
        ),
        ("/v1/models%00".into(), 400, "invalid_request"),
        ("/v1\\..\\admin".into(), 400, "invalid_request"),
        (
            format!("/openai/user@127.0.0.1:{p}/v1/models"),
            404,
            "endpoint_not_found",
        ),
        (
            format!("/openai/user:pass@127.0.0.1:{p}/v1/models"),
            404,
            "endpoint_not_found",
        ),
        (
            format!("/openai/[::1]:{p}/v1/models"),
            404,
            "endpoint_not_found",
        ),
        (
            "/openai/2130706433/v1/models".into(),
            404,
            "endpoint_not_found",
        ),
        (
            "/openai/127.0.0.1:1/v1/models".into(),
            403,
            "upstream_not_allowed",
        ),
        (
            format!("/openai/127.1:{p}/v1/models"),
            403,
            "upstream_not_allowed",
        ),
        (
            format!("/openai/0x7f.0.0.1:{p}/v1/models"),
            403,
            "upstream_not_allowed",
        ),
        (
            format!("/openai/localhost:{p}/v1/models"),
            403,
            "upstream_not_allowed",
        ),
        (
            format!("/openai/LOCALHOST.:{p}/v1/models"),
            403,
            "upstream_not_allowed",
        ),
        (
            "/openai/169.254.169.254/latest/meta-data".into(),
            403,
            "upstream_not_allowed",
        ),
        (
            "/openai/metadata.google.internal/computeMetadata/v1".into(),
            403,
            "upstream_not_allowed",
        ),
        ("/nope/v1/models".into(), 404, "endpoint_not_found"),
    ];
    for (path, want, want_code) in cases {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
            s.bearer()
        );
        let (status, body) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(status, Some(want), "{path}: {body}");
        assert_eq!(code(&body), want_code, "{path}: {body}");
    }
    assert_eq!(
        app.upstream.request_count(),
        0,
        "nothing reached the upstream"
    );
    still_serving(&app, &s.bearer()).await;
    app.stop().await;
}

#[actix_web::test]
async fn names_that_resolve_to_loopback_are_refused_unless_allowed() {
    let app = spawn_app_with(|s, upstream| {
        if let Some(openai) = s.providers.get_mut("openai") {
            openai
                .allowed_upstreams
                .push(format!("localhost:{}", upstream.port()));
        }
    })
    .await;
    let s = app.seed().await;
    let path = format!("/openai/localhost:{}/v1/models", app.upstream.port());
    let get = |app: &TestApp| {
        app.client
            .get(app.url(&path))
            .insert_header(("authorization", s.bearer()))
    };
    let (status, headers, body) = app.send(get(&app)).await;
    assert_error(status, &headers, &body, 403, "upstream_not_allowed");
    assert_eq!(app.upstream.request_count(), 0);
    let events = app.events(1).await;
    assert_eq!(events[0]["error_code"], "upstream_not_allowed");
    app.stop().await;

    let app = spawn_app_with(|s, upstream| {
        if let Some(openai) = s.providers.get_mut("openai") {
            openai
                .allowed_upstreams
                .push(format!("localhost:{}", upstream.port()));
            openai.allow_private_network = true;
        }
    })
    .await;
    let s = app.seed().await;
    let path = format!("/openai/localhost:{}/v1/models", app.upstream.port());
    let (status, _, body) = app
        .send(
            app.client
                .get(app.url(&path))
                .insert_header(("authorization", s.bearer())),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[actix_web::test]
async fn tokens_with_odd_characters_are_invalid() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let secret = s.secret.expose().to_owned();
    let odd: Vec<Vec<u8>> = vec![
        format!("Bearer {secret}\u{e4}").into_bytes(),
        b"Bearer \xff\xfe\xfd".to_vec(),
        format!("Bearer {secret}%00").into_bytes(),
        format!("Bearer {secret} {secret}").into_bytes(),
        format!("Bearer {}", "a".repeat(10_000)).into_bytes(),
        b"Bearer ' OR 1=1 --".to_vec(),
        b"Bearer ../../etc/passwd".to_vec(),
        b"Bearer".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        format!("Bearer {}", secret.to_uppercase()).into_bytes(),
    ];
    for value in odd {
        let header =
            awc::http::header::HeaderValue::from_bytes(&value).unwrap_or_else(|e| panic!("{e}"));
        let (status, headers, body) = app
            .send_json(
                app.client
                    .post(app.url("/v1/chat/completions"))
                    .insert_header(("authorization", header)),
                &TestApp::chat_body(false),
            )
            .await;
        assert_eq!(status, 401, "{}: {body}", String::from_utf8_lossy(&value));
        assert_error(
            status,
            &headers,
            &body,
            401,
            body["error"]["code"].as_str().unwrap_or("?"),
        );
        assert!(
            ["invalid_token", "token_not_found"]
                .contains(&body["error"]["code"].as_str().unwrap_or("")),
            "{body}"
        );
    }
    assert_eq!(app.upstream.request_count(), 0);
    still_serving(&app, &s.bearer()).await;
    app.stop().await;
}

#[actix_web::test]
async fn slow_and_vanishing_clients() {
    let app = spawn_app_with(|s, _| {
        // Long enough that a loaded machine never times out a head that was sent whole.
        s.server.client_request_timeout_ms = 1_000;
        s.server.client_body_timeout_ms = 300;
    })
    .await;
    let s = app.seed().await;
    // Slowloris: headers that never end. 408 in the envelope, connection closed.
    let started = Instant::now();
    let (status, body) = raw(
        &app,
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status, Some(408), "{body}");
    assert_eq!(code(&body), "request_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "held for {:?}",
        started.elapsed()
    );

    // A body that stalls: 408 in the envelope.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":",
        s.bearer()
    );
    let (status, body) = raw(&app, head.as_bytes(), Duration::from_secs(10)).await;
    assert_eq!(status, Some(408), "{body}");
    assert_eq!(code(&body), "request_timeout");

    // A client that disconnects mid-body: nothing is sent upstream.
    let mut conn = TcpStream::connect(("127.0.0.1", port(&app)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":",
        s.bearer()
    );
    conn.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(conn);
    still_serving(&app, &s.bearer()).await;
    assert_eq!(
        app.upstream.request_count(),
        1,
        "only the healthy call went upstream"
    );
    app.stop().await;
}

/// A run through normal, streamed, cached, retried and hostile calls; then every log line and
/// every event is searched for the provider keys and the token secrets used.
#[actix_web::test]
async fn no_provider_key_or_token_secret_in_any_log_or_event() {
    let app = spawn_app_with(|s, _| {
        s.resilience.retry.enabled = true;
        s.resilience.retry.base_delay_ms = 1;
    })
    .await;
    let a = app.seed().await;
    let b = app.seed().await;
    let secrets = [a.secret.expose().to_owned(), b.secret.expose().to_owned()];
    let opt_in = ("cache-control", "public, max-age=60");
    app.send_json(app.chat(&a.bearer()), &TestApp::chat_body(false))
        .await;
    app.send_json(app.chat(&a.bearer()), &TestApp::chat_body(true))
        .await;
    app.send_json(
        app.chat(&b.bearer()).insert_header(opt_in),
        &TestApp::chat_body(false),
    )
    .await;
    app.send_json(
        app.chat(&b.bearer()).insert_header(opt_in),
        &TestApp::chat_body(false),
    )
    .await;
    app.upstream.fail_next(1, 503);
    app.send_json(app.chat(&a.bearer()), &TestApp::chat_body(false))
        .await;
    // The secret in the body, in odd headers, and in a refused path.
    let leaky = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("my token is {}", secrets[0])}]});
    app.send_json(
        app.chat(&a.bearer())
            .insert_header(("x-note", secrets[1].as_str())),
        &leaky,
    )
    .await;
    app.send_json(
        app.client
            .post(app.url("/v1/chat/completions"))
            .insert_header(("x-api-key", format!("{}x", secrets[0]))),
        &TestApp::chat_body(false),
    )
    .await;
    app.send(
        app.client
            .get(app.url("/openai/evil.example/v1/models"))
            .insert_header(("authorization", a.bearer())),
    )
    .await;
    app.send_json(
        app.client
            .post(app.url("/anthropic/v1/messages"))
            .insert_header(("x-api-key", b.secret.expose())),
        &json!({"model": "claude", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let events = app.events(9).await;
    assert!(events.len() >= 9, "{}", events.len());
    let text = events_text(&app.events_dir()) + &captured_logs();
    for secret in [
        OPENAI_KEY,
        ANTHROPIC_KEY,
        secrets[0].as_str(),
        secrets[1].as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked: {}…", &secret[..8]);
    }
    app.stop().await;
}
