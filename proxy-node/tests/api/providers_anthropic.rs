//! The `anthropic` provider as the Anthropic SDK and Claude Code use it: messages, token
//! counting and models; the client's token in `x-api-key` or `Authorization`, the project's key
//! sent in `x-api-key`, the SDK's headers and body passed through byte for byte.

use serde_json::{json, Value};

use crate::fixtures::{claude_code_request, event, AgentGateway, ANTHROPIC_MESSAGE};
use crate::helpers::ANTHROPIC_KEY;

/// The headers the Anthropic Python SDK sends (VENDORS §5).
fn sdk(request: awc::ClientRequest) -> awc::ClientRequest {
    request
        .insert_header(("anthropic-version", "2023-06-01"))
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json"))
        .insert_header(("user-agent", "Anthropic/Python 0.69.0"))
        .insert_header(("x-stainless-lang", "python"))
        .insert_header(("x-stainless-package-version", "0.69.0"))
        .insert_header(("x-stainless-retry-count", "0"))
        .insert_header(("x-stainless-timeout", "600"))
}

#[actix_web::test]
async fn anthropic_sdk_calls_take_the_token_in_either_header_and_pass_byte_for_byte() {
    let gw = AgentGateway::start().await;
    let app = &gw.app;
    let token = gw.bearer.trim_start_matches("Bearer ").to_owned();

    // messages, token in x-api-key (the SDK's `api_key`), not streamed.
    let mut body = claude_code_request();
    body["stream"] = json!(false);
    body.as_object_mut().unwrap().remove("metadata");
    let sent = serde_json::to_vec_pretty(&body).unwrap();
    let request = sdk(app.client.post(app.url("/anthropic/v1/messages")))
        .insert_header(("x-api-key", token.clone()))
        .insert_header(("anthropic-beta", "token-efficient-tools-2025-02-19"))
        .insert_header(("x-request-id", "sdk-messages"));
    let (status, headers, answer) = gw.send_raw(request, sent.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        String::from_utf8_lossy(ANTHROPIC_MESSAGE)
    );
    assert_eq!(
        headers.get("request-id").and_then(|v| v.to_str().ok()),
        Some("req_011CUcTw2dZ")
    );
    let upstream = gw.upstream.last();
    assert_eq!(
        String::from_utf8_lossy(&upstream.body),
        String::from_utf8_lossy(&sent)
    );
    assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        upstream.header("anthropic-beta"),
        Some("token-efficient-tools-2025-02-19")
    );
    assert_eq!(
        upstream.header("x-stainless-package-version"),
        Some("0.69.0")
    );

    // count_tokens, token as a bearer (Claude Code's ANTHROPIC_AUTH_TOKEN).
    let count = json!({"model": body["model"], "system": body["system"], "tools": body["tools"], "messages": body["messages"]});
    let request = sdk(app
        .client
        .post(app.url("/anthropic/v1/messages/count_tokens?beta=true")))
    .insert_header(("authorization", gw.bearer.clone()))
    .insert_header(("x-request-id", "sdk-count"));
    let (status, _, answer) = gw.send_raw(request, count.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap()["input_tokens"],
        16047
    );
    let upstream = gw.upstream.last();
    assert_eq!(
        (upstream.path.as_str(), upstream.query.as_str()),
        ("/v1/messages/count_tokens", "beta=true")
    );
    assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));

    // models.
    let request = sdk(app.client.get(app.url("/anthropic/v1/models?limit=20")))
        .insert_header(("x-api-key", token.clone()))
        .insert_header(("x-request-id", "sdk-models"));
    let (status, _, answer) = gw.send_raw(request, Vec::new()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let upstream = gw.upstream.last();
    assert_eq!(
        (upstream.method.as_str(), upstream.path.as_str()),
        ("GET", "/v1/models")
    );

    for seen in gw.upstream.requests() {
        assert!(!seen.has_header("authorization"), "{}", seen.path);
        assert!(
            !seen.contains(&token),
            "the client's token reached the upstream"
        );
    }

    let events = gw.events(&[app], 3).await;
    let messages = event(&events, "sdk-messages");
    assert_eq!(messages.provider, "anthropic");
    assert_eq!(messages.finish_reason.as_deref(), Some("end_turn"));
    let usage = messages.usage.clone().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens
        ),
        (Some(12 + 16041), Some(21), Some(16041))
    );
    assert_eq!(messages.session.lineage.as_deref(), Some("new"));
    // Counting tokens and listing models take no turn in a conversation.
    for id in ["sdk-count", "sdk-models"] {
        let e = event(&events, id);
        assert_eq!(e.status, 200);
        assert_eq!(
            (e.session.seq, e.session.lineage.as_deref()),
            (1, None),
            "{id}"
        );
    }
    gw.stop().await;
}
