//! Usage on every call: a streamed OpenAI chat request without `stream_options.include_usage`
//! is asked for usage upstream, the extra usage chunk never reaches the client (every other
//! byte does, unchanged), and the event has the usage; where no usage comes back at all, the
//! gateway counts the tokens and marks the usage `estimated`.

use llm_proxy_testkit::fake_upstream::openai_events;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn event_for<'a>(events: &'a [Value], marker: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["request"]["body"].to_string().contains(marker))
        .unwrap_or_else(|| panic!("no event for {marker} in {events:?}"))
}

#[actix_web::test]
async fn a_client_that_did_not_ask_gets_no_usage_chunk_but_the_event_has_usage() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let raw =
        br#"{"model":"gpt-4o-mini", "stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut response = app
        .chat(&s.bearer())
        .insert_header(("content-type", "application/json"))
        .send_body(&raw[..])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = response.body().await.unwrap_or_else(|e| panic!("{e}"));
    let expected: String = openai_events("gpt-4o-mini", 3)
        .into_iter()
        .filter(|e| !e.contains("\"choices\":[]"))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&body),
        expected,
        "every other byte unchanged"
    );

    let sent = &app.upstream.requests()[0];
    assert_eq!(sent.json()["stream_options"]["include_usage"], true);
    let without: Vec<u8> = String::from_utf8_lossy(&sent.body)
        .replace(r#""stream_options":{"include_usage":true},"#, "")
        .into_bytes();
    assert_eq!(without, raw.to_vec(), "only the option was added");

    let events = app.events(1).await;
    assert_eq!(events[0]["usage"]["total_tokens"], 12);
    assert_eq!(events[0]["usage"]["estimated"], false);
    // The event keeps what the client sent.
    assert!(events[0]["request"]["body"].get("stream_options").is_none());
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_asked_gets_the_usage_chunk_and_its_body_untouched() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let raw = br#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let mut response = app
        .chat(&s.bearer())
        .insert_header(("content-type", "application/json"))
        .send_body(&raw[..])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = response.body().await.unwrap_or_else(|e| panic!("{e}"));
    let expected: String = openai_events("gpt-4o-mini", 3).concat();
    assert_eq!(String::from_utf8_lossy(&body), expected);
    assert_eq!(app.upstream.requests()[0].body.as_ref(), &raw[..]);
    app.stop().await;
}

#[actix_web::test]
async fn calls_without_any_usage_are_counted_and_marked_estimated() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let no_usage = ("x-fake-no-usage", "1");
    let question = "Count these words please, all seven of them";
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]});
    let (status, _, answer) = app
        .send_json(app.chat(&s.bearer()).insert_header(no_usage), &chat)
        .await;
    assert_eq!(status, 200);
    assert!(answer.get("usage").is_none());

    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    streamed["messages"][0]["content"] = json!("streamed question");
    let (status, _, _) = app
        .send_json(app.chat(&s.bearer()).insert_header(no_usage), &streamed)
        .await;
    assert_eq!(status, 200);

    let messages = json!({"model": "claude-sonnet", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "anthropic question"}]});
    let (status, _, _) = app
        .send_json(
            app.client
                .post(app.url("/anthropic/v1/messages"))
                .insert_header(("x-api-key", s.secret.expose()))
                .insert_header(no_usage),
            &messages,
        )
        .await;
    assert_eq!(status, 200);

    let events = app.events(3).await;
    for marker in ["seven", "streamed question", "anthropic question"] {
        let usage = &event_for(&events, marker)["usage"];
        assert_eq!(usage["estimated"], true, "{marker}: {usage}");
        let prompt = usage["prompt_tokens"].as_u64().unwrap_or(0);
        let completion = usage["completion_tokens"].as_u64().unwrap_or(0);
        assert!(prompt >= 3, "{marker}: {usage}");
        // The fake answers "tok0 tok1 tok2 ".
        assert!(completion >= 3, "{marker}: {usage}");
        assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + completion));
    }
    assert!(app
        .metrics()
        .await
        .contains("llm_proxy_usage_estimated_total 3"));
    app.stop().await;
}

#[actix_web::test]
async fn answers_with_usage_are_never_estimated() {
    let app = spawn_app().await;
    let s = app.seed().await;
    app.send_json(app.chat(&s.bearer()), &TestApp::chat_body(false))
        .await;
    let events = app.events(1).await;
    assert_eq!(events[0]["usage"]["estimated"], false);
    assert_eq!(events[0]["usage"]["total_tokens"], 12);
    app.stop().await;
}
