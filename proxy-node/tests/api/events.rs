//! One event per call, with usage from the answer or the stream, and no credential anywhere.

use serde_json::json;

use crate::helpers::{captured_logs, events_text, spawn_app, TestApp, ANTHROPIC_KEY, OPENAI_KEY};

#[actix_web::test]
async fn every_call_and_every_refusal_is_one_event() {
    let app = spawn_app().await;
    let seeded = app.seed().await;

    let (s, _, _) = app
        .send_json(
            app.chat(&seeded.bearer())
                .insert_header(("x-request-id", "ev-plain")),
            &TestApp::chat_body(false),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send_json(
            app.chat(&seeded.bearer())
                .insert_header(("x-request-id", "ev-stream"))
                .insert_header(("x-claude-code-session-id", "sess-1")),
            &TestApp::chat_body(true),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send_json(
            app.chat("Bearer wt_bad")
                .insert_header(("x-request-id", "ev-refused")),
            &TestApp::chat_body(false),
        )
        .await;
    assert_eq!(s, 401);

    let events = app.events(3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e["request_id"] == id)
            .unwrap_or_else(|| panic!("no event for {id}"))
            .clone()
    };

    let plain = by_id("ev-plain");
    assert_eq!(plain["status"], 200);
    assert_eq!(plain["provider"], "openai");
    assert_eq!(plain["upstream"], app.upstream.host());
    assert_eq!(plain["project_id"], seeded.project.id.to_string());
    assert_eq!(plain["token_id"], seeded.token.id.to_string());
    assert_eq!(plain["model"], "gpt-4o-mini");
    assert_eq!(plain["stream"], false);
    assert_eq!(plain["termination"], "eof");
    assert_eq!(plain["usage"]["total_tokens"], 12);
    assert_eq!(plain["finish_reason"], "stop");
    assert_eq!(plain["request"]["body"]["model"], "gpt-4o-mini");
    assert_eq!(plain["response"]["body"]["object"], "chat.completion");
    assert_eq!(plain["request"]["headers"]["authorization"], "[redacted]");
    assert!(plain["duration_ms"].as_f64().is_some());
    assert!(plain["ttfb_ms"].as_f64().is_some());
    assert_eq!(plain["schema_version"], 1);

    let stream = by_id("ev-stream");
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["usage"]["total_tokens"], 12);
    assert_eq!(stream["finish_reason"], "stop");
    assert_eq!(stream["response"]["body"]["content"], "tok0 tok1 tok2 ");
    assert_eq!(stream["session"]["id"], "sess-1");

    let refused = by_id("ev-refused");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["termination"], "rejected");
    assert_eq!(refused["error_code"], "invalid_token");
    app.stop().await;
}

#[actix_web::test]
async fn the_client_credential_never_appears_in_logs_or_events() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let secret = seeded.secret.expose().to_owned();

    // The token in every header style, in a body, in a failing call and in a stream.
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("my token is {secret}")}]});
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send_json(app.chat(&seeded.bearer()), &TestApp::chat_body(true))
        .await;
    assert_eq!(s, 200);
    let request = app
        .client
        .post(app.url("/anthropic/v1/messages"))
        .insert_header(("x-api-key", secret.as_str()));
    let (s, _, _) = app
        .send_json(request, &json!({"model": "claude", "messages": []}))
        .await;
    assert_eq!(s, 200);
    let request = app
        .client
        .get(app.url("/v1/models"))
        .insert_header(("api-key", secret.as_str()));
    let (s, _, _) = app.send(request).await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send_json(
            app.chat(&seeded.bearer())
                .insert_header(("x-fake-status", "500")),
            &body,
        )
        .await;
    assert_eq!(s, 500);
    // A malformed credential is not logged either.
    let odd = format!("{secret}!");
    let (s, _, _) = app
        .send_json(app.chat(&format!("Bearer {odd}")), &body)
        .await;
    assert_eq!(s, 401);
    app.revoke(&seeded.token).await;
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 401);

    let events = app.events(7).await;
    assert_eq!(events.len(), 7);
    let text = events_text(&app.events_dir());
    let body_part = &secret[3..];
    assert!(!text.contains(body_part), "the token is in the event files");
    for key in [OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!text.contains(key), "a provider key is in the event files");
    }
    let logs = captured_logs();
    assert!(!logs.is_empty(), "no logs were captured");
    assert!(!logs.contains(body_part), "the token is in the logs");
    for key in [OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!logs.contains(key), "a provider key is in the logs");
    }
    app.stop().await;
}
