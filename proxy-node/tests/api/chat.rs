//! Chat completions through the gateway, and what the upstream sees.

use serde_json::json;

use crate::helpers::{spawn_app, TestApp, ANTHROPIC_KEY, OPENAI_KEY};

#[actix_web::test]
async fn non_streaming_chat_completion_is_forwarded_with_the_project_key() {
    let app = spawn_app().await;
    let seeded = app.seed().await;

    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-forwarded-for", "203.0.113.9"))
        .insert_header(("x-real-ip", "203.0.113.9"))
        .insert_header(("openai-beta", "assistants=v2"));
    let (status, headers, body) = app.send_json(request, &TestApp::chat_body(false)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["usage"]["total_tokens"], 12);
    assert!(headers.contains_key("x-request-id"));
    assert!(headers.contains_key("x-llm-proxy-overhead-ms"));
    let timing = headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        timing.contains("gateway;dur=") && timing.contains("upstream;dur="),
        "{timing}"
    );

    let seen = app.upstream.requests();
    assert_eq!(seen.len(), 1);
    let upstream = &seen[0];
    assert_eq!(upstream.method, "POST");
    assert_eq!(upstream.path, "/v1/chat/completions");
    assert_eq!(
        upstream.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(upstream.header("openai-beta"), Some("assistants=v2"));
    assert_eq!(upstream.json()["model"], "gpt-4o-mini");
    assert!(
        !upstream.contains(seeded.secret.expose()),
        "client token reached the upstream"
    );
    assert!(!upstream.has_header("x-forwarded-for"));
    assert!(!upstream.has_header("x-real-ip"));
    assert!(
        !upstream.contains(&seeded.project.id.to_string()),
        "project id leaked upstream"
    );
    app.stop().await;
}

#[actix_web::test]
async fn streaming_chat_completion_is_forwarded_as_sse() {
    let app = spawn_app().await;
    let seeded = app.seed().await;

    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-chunks", "5"));
    let (status, headers, body) = app.send_json(request, &TestApp::chat_body(true)).await;

    assert_eq!(status, 200);
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("text/event-stream"));
    let text = body.as_str().unwrap_or_default();
    for i in 0..5 {
        assert!(
            text.contains(&format!("tok{i} ")),
            "missing chunk {i}: {text}"
        );
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let upstream = &app.upstream.requests()[0];
    assert!(!upstream.contains(seeded.secret.expose()));
    app.stop().await;
}

#[actix_web::test]
async fn anthropic_route_sends_the_key_as_x_api_key_and_keeps_anthropic_headers() {
    let app = spawn_app().await;
    let seeded = app.seed().await;

    let request = app
        .client
        .post(app.url("/anthropic/v1/messages?beta=true"))
        .insert_header(("x-api-key", seeded.secret.expose()))
        .insert_header(("anthropic-version", "2023-06-01"))
        .insert_header((
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        ));
    let body = json!({"model": "claude-sonnet-4", "max_tokens": 10, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, answer) = app.send_json(request, &body).await;
    assert_eq!(status, 200);
    assert!(answer.as_str().unwrap_or_default().contains("message_stop"));

    let upstream = &app.upstream.requests()[0];
    assert_eq!(upstream.path, "/v1/messages");
    assert_eq!(upstream.query, "beta=true");
    assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert!(!upstream.has_header("authorization"));
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        upstream.header("anthropic-beta"),
        Some("claude-code-20250219,interleaved-thinking-2025-05-14")
    );
    assert!(!upstream.contains(seeded.secret.expose()));
    app.stop().await;
}

#[actix_web::test]
async fn an_allowed_upstream_host_in_the_path_is_used() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let path = format!("/openai/{}/v1/chat/completions", app.upstream.host());
    let request = app
        .client
        .post(app.url(&path))
        .insert_header(("authorization", seeded.bearer()));
    let (status, _, body) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.upstream.requests()[0].path, "/v1/chat/completions");
    app.stop().await;
}

#[actix_web::test]
async fn upstream_errors_pass_through_verbatim() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-status", "429"));
    let (status, headers, body) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "fake_error");
    assert_eq!(
        headers.get("x-fake-upstream").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    app.stop().await;
}

#[actix_web::test]
async fn request_id_is_the_clients_when_well_formed() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-request-id", "client-req-42"));
    let (_, headers, _) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("client-req-42")
    );

    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-request-id", "bad id with spaces"));
    let (_, headers, _) = app.send_json(request, &TestApp::chat_body(false)).await;
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    app.stop().await;
}
