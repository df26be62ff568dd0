//! Every error the gateway makes itself: status, code and envelope.

use chrono::Utc;
use futures_util::stream;
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::project::ProjectUpdate;
use llm_proxy_core::token_secret::TokenSecret;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};

#[actix_web::test]
async fn token_errors() {
    let app = spawn_app().await;
    let body = TestApp::chat_body(false);

    // No token, and tokens of the wrong shape: rejected before any lookup.
    let (s, h, b) = app
        .send_json(app.client.post(app.url("/v1/chat/completions")), &body)
        .await;
    assert_error(s, &h, &b, 401, "invalid_token");
    for bad in [
        "Bearer sk-someone-elses-openai-key",
        "Bearer wt_short",
        "Basic dXNlcjpwYXNz",
    ] {
        let (s, h, b) = app.send_json(app.chat(bad), &body).await;
        assert_error(s, &h, &b, 401, "invalid_token");
    }

    // Right shape, unknown.
    let unknown = format!("Bearer {}", TokenSecret::generate().expose());
    let (s, h, b) = app.send_json(app.chat(&unknown), &body).await;
    assert_error(s, &h, &b, 401, "token_not_found");
    assert_eq!(b["error"]["type"], "authentication_error");

    // Expired.
    let project = app.create_project("expired").await;
    let past = Utc::now() - chrono::Duration::minutes(1);
    let (secret, _) = app.create_token(project.id, None, Some(past)).await;
    let (s, h, b) = app
        .send_json(app.chat(&format!("Bearer {}", secret.expose())), &body)
        .await;
    assert_error(s, &h, &b, 401, "token_expired");

    // Revoked.
    let seeded = app.seed().await;
    app.revoke(&seeded.token).await;
    let (s, h, b) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_error(s, &h, &b, 401, "token_inactive");

    assert_eq!(app.upstream.request_count(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn inactive_project_is_forbidden() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let body = TestApp::chat_body(false);
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 200);

    let update = ProjectUpdate {
        is_active: Some(false),
        ..ProjectUpdate::default()
    };
    app.store
        .update_project(seeded.project.id, update, &AuditContext::system("test"))
        .await
        .unwrap_or_else(|e| panic!("deactivate: {e}"));
    app.control.publish(ControlEvent::ProjectChanged {
        project_id: seeded.project.id,
    });

    let (s, h, b) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_error(s, &h, &b, 403, "project_inactive");
    assert_eq!(b["error"]["type"], "permission_error");
    app.stop().await;
}

#[actix_web::test]
async fn quota_exceeded_after_max_requests() {
    let app = spawn_app().await;
    let seeded = app.seed_with(Some(2)).await;
    let body = TestApp::chat_body(false);
    for _ in 0..2 {
        let (s, _, b) = app.send_json(app.chat(&seeded.bearer()), &body).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, h, b) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_error(s, &h, &b, 429, "quota_exceeded");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert_eq!(app.upstream.request_count(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn policy_errors() {
    let app = spawn_app_with(|settings, _| {
        if let Some(openai) = settings.providers.get_mut("openai") {
            openai.allowed_models = vec!["gpt-4o*".into()];
            openai
                .allowed_params
                .insert("service_tier".into(), vec!["default".into()]);
        }
    })
    .await;
    let seeded = app.seed().await;
    let bearer = seeded.bearer();

    // Method.
    let (s, h, b) = app
        .send_json(
            app.client
                .put(app.url("/v1/chat/completions"))
                .insert_header(("authorization", bearer.as_str())),
            &json!({}),
        )
        .await;
    assert_error(s, &h, &b, 405, "method_not_allowed");
    assert!(h.contains_key("allow"));

    // Endpoint outside the allowed prefixes.
    let (s, h, b) = app
        .send_json(
            app.client
                .post(app.url("/v1/fine_tuning/jobs"))
                .insert_header(("authorization", bearer.as_str())),
            &json!({}),
        )
        .await;
    assert_error(s, &h, &b, 404, "endpoint_not_found");

    // Unknown provider.
    let (s, h, b) = app
        .send(
            app.client
                .get(app.url("/nosuchprovider/v1/models"))
                .insert_header(("authorization", bearer.as_str())),
        )
        .await;
    assert_error(s, &h, &b, 404, "endpoint_not_found");

    // Model glob, with a charset in the content type.
    let request = app
        .chat(&bearer)
        .insert_header(("content-type", "application/json; charset=utf-8"));
    let (s, h, b) = app
        .send_json(request, &json!({"model": "o1-pro", "messages": []}))
        .await;
    assert_error(s, &h, &b, 400, "param_not_allowed");
    assert_eq!(b["error"]["param"], "model");

    // Parameter glob.
    let (s, h, b) = app
        .send_json(
            app.chat(&bearer),
            &json!({"model": "gpt-4o", "service_tier": "flex"}),
        )
        .await;
    assert_error(s, &h, &b, 400, "param_not_allowed");
    assert_eq!(b["error"]["param"], "service_tier");

    // Malformed JSON on a JSON endpoint.
    let mut response = app
        .chat(&bearer)
        .insert_header(("content-type", "application/json"))
        .send_body("{\"model\": \"gpt-4o\", ")
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let (s, h, b) = crate::helpers::read_all(&mut response).await;
    assert_error(s, &h, &b, 400, "invalid_request");

    // Browser origin not allowed.
    let request = app
        .chat(&bearer)
        .insert_header(("origin", "https://evil.example"));
    let (s, h, b) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_error(s, &h, &b, 403, "origin_not_allowed");

    // Host in the path that is not allowed.
    let request = app
        .client
        .post(app.url("/openai/169.254.169.254/v1/chat/completions"))
        .insert_header(("authorization", bearer.as_str()));
    let (s, h, b) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_error(s, &h, &b, 403, "upstream_not_allowed");

    assert_eq!(app.upstream.request_count(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn payload_too_large_counts_declared_and_chunked_bodies() {
    let app = spawn_app_with(|settings, _| settings.server.max_body_bytes = 1024).await;
    let seeded = app.seed().await;
    let big = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(2048)}]});

    let (s, h, b) = app.send_json(app.chat(&seeded.bearer()), &big).await;
    assert_error(s, &h, &b, 413, "payload_too_large");

    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..8)
        .map(|_| Ok(bytes::Bytes::from(vec![b' '; 256])))
        .collect();
    let mut response = app
        .chat(&seeded.bearer())
        .insert_header(("content-type", "application/json"))
        .send_stream(stream::iter(chunks))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let (s, h, b) = crate::helpers::read_all(&mut response).await;
    assert_error(s, &h, &b, 413, "payload_too_large");
    assert_eq!(app.upstream.request_count(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn upstream_unreachable_and_timeout() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let app = spawn_app_with(move |settings, _| {
        if let Some(anthropic) = settings.providers.get_mut("anthropic") {
            anthropic.base_url = format!("http://127.0.0.1:{closed}");
        }
        if let Some(openai) = settings.providers.get_mut("openai") {
            openai.first_byte_timeout_ms = 300;
        }
    })
    .await;
    let seeded = app.seed().await;

    let request = app
        .client
        .post(app.url("/anthropic/v1/messages"))
        .insert_header(("x-api-key", seeded.secret.expose()));
    let (s, h, b) = app
        .send_json(request, &json!({"model": "claude", "messages": []}))
        .await;
    assert_error(s, &h, &b, 502, "upstream_unreachable");
    // Anthropic routes speak Anthropic's envelope.
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "api_error");

    let request = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-hang", "1"));
    let (s, h, b) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_error(s, &h, &b, 504, "upstream_timeout");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"llm_proxy_upstream_errors_total{provider="openai",kind="timeout"} 1"#),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn anthropic_routes_use_the_anthropic_envelope() {
    let app = spawn_app().await;
    let request = app
        .client
        .post(app.url("/anthropic/v1/messages"))
        .insert_header(("x-api-key", "not-a-token"));
    let (s, h, b) = app.send_json(request, &json!({"model": "claude"})).await;
    assert_error(s, &h, &b, 401, "invalid_token");
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "authentication_error");
    app.stop().await;
}

#[actix_web::test]
async fn cors_preflight_is_answered_without_a_token() {
    let app = spawn_app_with(|settings, _| {
        if let Some(openai) = settings.providers.get_mut("openai") {
            openai.allowed_origins = vec!["https://app.example.com".into()];
        }
    })
    .await;
    let request = app
        .client
        .request(awc::http::Method::OPTIONS, app.url("/v1/chat/completions"))
        .insert_header(("origin", "https://app.example.com"))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header((
            "access-control-request-headers",
            "authorization, content-type",
        ));
    let (s, h, _) = app.send(request).await;
    assert_eq!(s, 204);
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    assert!(h.get("access-control-allow-methods").is_some());

    let request = app
        .client
        .request(awc::http::Method::OPTIONS, app.url("/v1/chat/completions"))
        .insert_header(("origin", "https://evil.example"))
        .insert_header(("access-control-request-method", "POST"));
    let (s, h, b) = app.send(request).await;
    assert_error(s, &h, &b, 403, "origin_not_allowed");

    // An allowed origin gets CORS headers on the real answer too.
    let seeded = app.seed().await;
    let request = app
        .chat(&seeded.bearer())
        .insert_header(("origin", "https://app.example.com"));
    let (s, h, _) = app.send_json(request, &TestApp::chat_body(false)).await;
    assert_eq!(s, 200);
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    assert_eq!(app.upstream.request_count(), 1);
    assert!(!app.upstream.requests()[0].has_header("origin"));
    app.stop().await;
}
