//! Budgets through the gateway: exact under concurrency (in memory and across two nodes on
//! Redis), settled with the real usage and refunded when the upstream fails, streams ended
//! cleanly at the budget (read back the way the OpenAI and Anthropic SDKs read streams), and
//! the disconnect policy recorded in the event.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::budget::{Budget, BudgetPeriod, DisconnectPolicy, SpendPolicy};
use llm_proxy_core::project::{NewProject, Project};
use llm_proxy_core::usage_cost::ModelPrice;
use llm_proxy_core::SecretString;
use llm_proxy_platform::Settings;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use proxy_node::ProxyParts;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, eventually, spawn_app_with, spawn_redis_app, TestApp, ANTHROPIC_KEY, OPENAI_KEY,
};

fn tokens(max: u64) -> Budget {
    Budget {
        period: BudgetPeriod::Month,
        max_tokens: Some(max),
        max_cost_nano_usd: None,
    }
}

async fn project(
    app: &TestApp,
    budget: Option<Budget>,
    on_disconnect: DisconnectPolicy,
) -> Project {
    let keys = BTreeMap::from([
        ("openai".to_owned(), SecretString::new(OPENAI_KEY)),
        ("anthropic".to_owned(), SecretString::new(ANTHROPIC_KEY)),
    ]);
    let new = NewProject {
        name: format!("b-{}", uuid::Uuid::new_v4().simple()),
        provider_keys: keys,
        rate_limit_rpm: None,
    };
    let spend = SpendPolicy {
        budget,
        on_disconnect,
    };
    app.store
        .create_project_with(new, spend, &AuditContext::system("test"))
        .await
        .unwrap()
}

async fn bearer(app: &TestApp, project: &Project) -> String {
    let (secret, _) = app
        .create_token(
            project.id,
            None,
            Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        )
        .await;
    format!("Bearer {}", secret.expose())
}

/// A call whose reservation equals its real usage: the prompt estimate is 9 (6 bytes of text,
/// one message, priming) and the fake reports 9 prompt tokens; 4 completion tokens asked for
/// and answered. So 13 tokens a call, never refunded.
fn exact_call() -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 4,
           "messages": [{"role": "user", "content": "hello!"}]})
}

/// 200 calls at once, spread over `nodes`: how many were answered 200 and 429.
async fn storm(nodes: &[&TestApp], bearer: &str) -> (usize, usize) {
    let calls = (0..200).map(|i| {
        let node = nodes[i % nodes.len()];
        async move {
            let (status, headers, body) = node
                .send_json(
                    node.chat(bearer).insert_header(("x-fake-chunks", "4")),
                    &exact_call(),
                )
                .await;
            if status == 429 {
                assert_error(status, &headers, &body, 429, "budget_exceeded");
                assert_eq!(
                    headers
                        .get("x-llm-proxy-budget-remaining-tokens")
                        .and_then(|v| v.to_str().ok()),
                    Some("0"),
                    "{body}"
                );
            } else {
                assert_eq!(status, 200, "{body}");
                assert!(headers.contains_key("x-llm-proxy-budget-remaining-tokens"));
            }
            status
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    (ok, refused)
}

/// Tokens the recorded successful calls used.
fn used_tokens(events: &[Value]) -> u64 {
    events
        .iter()
        .filter(|e| e["status"] == 200)
        .map(|e| e["usage"]["total_tokens"].as_u64().unwrap_or(0))
        .sum()
}

#[actix_web::test]
async fn two_hundred_concurrent_calls_against_a_budget_that_fits_fifty_admit_fifty() {
    let app = spawn_app_with(|_, _| {}).await;
    let p = project(&app, Some(tokens(50 * 13)), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    let (ok, refused) = storm(&[&app], &bearer).await;
    assert_eq!((ok, refused), (50, 150));
    let events = app.events(200).await;
    assert_eq!(used_tokens(&events), 650, "never past the budget");
    let refusals = events
        .iter()
        .filter(|e| e["error_code"] == "budget_exceeded")
        .count();
    assert_eq!(refusals, 150);
    app.stop().await;
}

#[actix_web::test]
async fn two_nodes_on_redis_share_one_budget_exactly() {
    let app = spawn_redis_app(|_, _| {}, ProxyParts::default()).await;
    let peer = app.spawn_peer(ProxyParts::default());
    let p = project(&app, Some(tokens(50 * 13)), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    let (ok, refused) = storm(&[&app, &peer], &bearer).await;
    assert_eq!((ok, refused), (50, 150));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let mut all = app.events(0).await;
        all.extend(peer.events(0).await);
        if all.len() >= 200 || std::time::Instant::now() > deadline {
            break all;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(events.len(), 200);
    assert_eq!(used_tokens(&events), 650);
    peer.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn failed_calls_are_refunded_and_real_usage_is_settled() {
    let app = spawn_app_with(|s, _| s.resilience.breaker.enabled = false).await;
    let p = project(&app, Some(tokens(2 * 13)), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    // Upstream failures cost nothing: the budget is whole again after each.
    for _ in 0..5 {
        let (status, _, _) = app
            .send_json(
                app.chat(&bearer).insert_header(("x-fake-status", "500")),
                &exact_call(),
            )
            .await;
        assert_eq!(status, 500);
    }
    // A call asking for 4 that used 1: 3 come back, so the budget fits this one and one more.
    let mut asks_less = exact_call();
    asks_less["max_tokens"] = json!(4);
    let ok = |status: u16| assert_eq!(status, 200);
    let (status, _, _) = app
        .send_json(
            app.chat(&bearer).insert_header(("x-fake-chunks", "1")),
            &asks_less,
        )
        .await;
    ok(status);
    let (status, _, _) = app
        .send_json(
            app.chat(&bearer).insert_header(("x-fake-chunks", "4")),
            &exact_call(),
        )
        .await;
    ok(status);
    // 10 + 13 used of 26: a call needing 13 no longer fits, one needing 12 would not either.
    let (status, headers, body) = app
        .send_json(
            app.chat(&bearer).insert_header(("x-fake-chunks", "4")),
            &exact_call(),
        )
        .await;
    assert_error(status, &headers, &body, 429, "budget_exceeded");
    assert_eq!(
        headers
            .get("x-llm-proxy-budget-remaining-tokens")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 tokens"));
    app.stop().await;
}

fn priced(settings: &mut Settings) {
    settings.pricing.models = vec![ModelPrice {
        model: "gpt-4o-mini*".into(),
        provider: None,
        input: 1_000.0,
        output: 1_000.0,
        cached_input: None,
    }];
}

#[actix_web::test]
async fn cost_budgets_use_the_price_table_and_refuse_unpriced_models() {
    let app = spawn_app_with(|s, _| priced(s)).await;
    // $1000 per million tokens: 13 tokens cost $0.013; $0.03 fits two calls.
    let budget = Budget {
        period: BudgetPeriod::Lifetime,
        max_tokens: None,
        max_cost_nano_usd: Some(30_000_000),
    };
    let p = project(&app, Some(budget), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = app
            .send_json(
                app.chat(&bearer).insert_header(("x-fake-chunks", "4")),
                &exact_call(),
            )
            .await;
        statuses.push((
            status,
            headers
                .get("x-llm-proxy-budget-remaining-usd")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
    }
    assert_eq!(
        statuses,
        [
            (200, Some("0.017000".to_owned())),
            (200, Some("0.004000".to_owned())),
            (429, Some("0.004000".to_owned())),
        ]
    );
    let mut unpriced = exact_call();
    unpriced["model"] = json!("o3");
    let (status, headers, body) = app.send_json(app.chat(&bearer), &unpriced).await;
    assert_error(status, &headers, &body, 429, "budget_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("`o3`"));
    app.stop().await;
}

/// Settings that make a stream outgrow its first reservation and then the budget.
fn small_steps(settings: &mut Settings, _: &FakeUpstream) {
    settings.budgets.default_output_tokens = 16;
    settings.budgets.stream_step_tokens = 8;
}

async fn read_text(
    mut response: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> String {
    let mut text = Vec::new();
    while let Some(chunk) = response.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(text).unwrap()
}

/// SSE events as the SDKs split them: `(event name, data)` per blank-line-terminated block.
fn sse_events(text: &str) -> Vec<(String, String)> {
    assert!(
        text.ends_with("\n\n"),
        "the stream ends with a whole event: {text:?}"
    );
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                } else {
                    panic!("not an SSE line: {line:?}");
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

/// What openai-python's `Stream` does with a chat stream: stops at `[DONE]`, raises on a chunk
/// with `error`, and the accumulated content and finish reason until then.
fn openai_sdk(text: &str) -> (String, Option<String>, Result<(), Value>) {
    let (mut content, mut finish) = (String::new(), None);
    for (_, data) in sse_events(text) {
        if data == "[DONE]" {
            return (content, finish, Ok(()));
        }
        let chunk: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
        if chunk.get("error").is_some() {
            return (content, finish, Err(chunk["error"].clone()));
        }
        for choice in chunk["choices"].as_array().unwrap() {
            if let Some(c) = choice["delta"]["content"].as_str() {
                content.push_str(c);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_owned());
            }
        }
    }
    panic!("the stream ended without [DONE] or an error: {text}")
}

#[actix_web::test]
async fn an_openai_stream_is_ended_cleanly_at_the_budget() {
    let app = spawn_app_with(small_steps).await;
    let p = project(&app, Some(tokens(60)), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    let body = json!({"model": "gpt-4o-mini", "stream": true,
                      "messages": [{"role": "user", "content": "hello!"}]});
    let response = app
        .chat(&bearer)
        .insert_header(("x-fake-chunks", "200"))
        .insert_header(("x-fake-interval-ms", "5"))
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = read_text(response).await;
    let (content, finish, ended) = openai_sdk(&text);
    assert_eq!(finish.as_deref(), Some("length"), "{text}");
    let error = ended.unwrap_err();
    assert_eq!(error["code"], "budget_exceeded");
    let delivered = content.split_whitespace().count();
    assert!(
        (10..40).contains(&delivered),
        "{delivered} chunks: {content}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));

    let events = app.events(1).await;
    let e = &events[0];
    assert_eq!(e["termination"], "budget", "{e}");
    assert_eq!(e["finish_reason"], "length");
    assert_eq!(e["status"], 200);
    assert!(e["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let upstream = &app.upstream;
    eventually("the upstream is dropped", || {
        upstream.streams_cancelled() == 1
    })
    .await;
    assert_eq!(upstream.streams_completed(), 0);

    // What is left cannot fit a call asking for 50 more.
    let mut more = exact_call();
    more["max_tokens"] = json!(50);
    let (status, headers, body) = app.send_json(app.chat(&bearer), &more).await;
    assert_error(status, &headers, &body, 429, "budget_exceeded");
    app.stop().await;
}

/// What the anthropic-sdk's `Stream` and its message accumulator see: every event parses,
/// content blocks open and close in order, the message stops with a reason, and an `error`
/// event raises.
fn anthropic_sdk(text: &str) -> (String, Option<String>, Result<(), Value>) {
    let (mut content, mut stop_reason) = (String::new(), None);
    let mut open: Option<u64> = None;
    let mut started = false;
    let mut stopped = false;
    for (name, data) in sse_events(text) {
        let event: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
        assert_eq!(
            event["type"],
            name.as_str(),
            "the event name matches its type"
        );
        match name.as_str() {
            "message_start" => started = true,
            "content_block_start" => {
                assert!(started && open.is_none(), "{text}");
                open = event["index"].as_u64();
            }
            "content_block_delta" => {
                assert_eq!(open, event["index"].as_u64(), "{text}");
                content.push_str(event["delta"]["text"].as_str().unwrap_or(""));
            }
            "content_block_stop" => {
                assert_eq!(open, event["index"].as_u64(), "{text}");
                open = None;
            }
            "message_delta" => {
                assert!(
                    open.is_none(),
                    "blocks close before the message ends: {text}"
                );
                stop_reason = event["delta"]["stop_reason"].as_str().map(str::to_owned);
            }
            "message_stop" => stopped = true,
            "error" => {
                assert!(stopped, "{text}");
                return (content, stop_reason, Err(event["error"].clone()));
            }
            "ping" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(stopped, "{text}");
    (content, stop_reason, Ok(()))
}

#[actix_web::test]
async fn an_anthropic_stream_is_ended_cleanly_at_the_budget() {
    let app = spawn_app_with(small_steps).await;
    let p = project(&app, Some(tokens(60)), DisconnectPolicy::Cancel).await;
    let bearer = bearer(&app, &p).await;
    let token = bearer.trim_start_matches("Bearer ").to_owned();
    let body = json!({"model": "claude-3-5-haiku-latest", "stream": true, "max_tokens": 4000,
                      "messages": [{"role": "user", "content": "hello!"}]});
    // 4000 output tokens cannot fit a budget of 60: refused before anything is sent.
    let (status, headers, refused) = app
        .send_json(
            app.client
                .post(app.url("/anthropic/v1/messages"))
                .insert_header(("x-api-key", token.clone()))
                .insert_header(("anthropic-version", "2023-06-01")),
            &body,
        )
        .await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["error"]["type"], "rate_limit_error");
    assert!(headers.contains_key("x-llm-proxy-budget-remaining-tokens"));

    let mut open = body.clone();
    open.as_object_mut().unwrap().remove("max_tokens");
    let response = app
        .client
        .post(app.url("/anthropic/v1/messages"))
        .insert_header(("x-api-key", token))
        .insert_header(("anthropic-version", "2023-06-01"))
        .insert_header(("x-fake-chunks", "200"))
        .send_json(&open)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = read_text(response).await;
    let (content, stop_reason, ended) = anthropic_sdk(&text);
    assert_eq!(stop_reason.as_deref(), Some("max_tokens"));
    let error = ended.unwrap_err();
    assert!(
        error["message"].as_str().unwrap().contains("budget"),
        "{error}"
    );
    assert!(!content.is_empty());

    let events = app.events(2).await;
    let cut = events.iter().find(|e| e["status"] == 200).unwrap();
    assert_eq!(cut["termination"], "budget", "{cut}");
    assert_eq!(cut["finish_reason"], "max_tokens");
    app.stop().await;
}

/// A stream whose client reads one chunk and leaves; the project's policy decides the rest.
async fn leave_early(app: &TestApp, policy: DisconnectPolicy) -> Value {
    let p = project(app, None, policy).await;
    let bearer = bearer(app, &p).await;
    let mut response = app
        .chat(&bearer)
        .insert_header(("x-fake-chunks", "30"))
        .insert_header(("x-fake-interval-ms", "20"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap();
    assert!(matches!(response.next().await, Some(Ok(_))));
    drop(response);
    let events = app.events(1).await;
    assert_eq!(events.len(), 1);
    events[0].clone()
}

#[actix_web::test]
async fn a_client_disconnect_cancels_or_drains_by_project_policy() {
    let app = spawn_app_with(|_, _| {}).await;
    let cancelled = leave_early(&app, DisconnectPolicy::Cancel).await;
    assert_eq!(cancelled["termination"], "client_cancel", "{cancelled}");
    assert_eq!(cancelled["disconnect"], "cancel");
    let upstream = &app.upstream;
    eventually("the upstream is cancelled", || {
        upstream.streams_cancelled() == 1
    })
    .await;
    app.stop().await;

    let app = spawn_app_with(|_, _| {}).await;
    let drained = leave_early(&app, DisconnectPolicy::Drain).await;
    assert_eq!(drained["termination"], "client_cancel", "{drained}");
    assert_eq!(drained["disconnect"], "drain");
    assert_eq!(
        drained["usage"]["completion_tokens"], 30,
        "the exact usage: {drained}"
    );
    assert_eq!(drained["usage"]["estimated"], false);
    assert_eq!(app.upstream.streams_completed(), 1);
    assert_eq!(app.upstream.streams_cancelled(), 0);
    app.stop().await;
}
