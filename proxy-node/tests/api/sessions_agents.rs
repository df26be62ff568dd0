//! Coding-agent traffic through the gateway, with recorded-shape fixtures: session ids from
//! Claude Code (header and both `metadata.user_id` forms), Codex (headers, Responses stream) and
//! the OpenAI SDK; lineage across turns, a fork after an edited prompt, sessions never merged
//! by content; streams passed through byte for byte while usage, model, stop reason and tool
//! calls are read for the event.

use llm_proxy_core::event::{RequestEvent, TurnPartKind};
use serde_json::{json, Value};

use crate::fixtures::{
    assistant_text, claude_code_headers, claude_code_request, claude_code_tool_round,
    claude_code_turn, codex_headers, codex_request, event, user_text, AgentGateway,
    ANTHROPIC_TOOL_USE, CLAUDE_CODE_SESSION, OPENAI_CHAT_REQUEST, OPENAI_CHAT_STREAM,
    RESPONSES_TOOL_CALL,
};
use crate::helpers::{TestApp, ANTHROPIC_KEY, OPENAI_KEY};

fn claude(gw: &AgentGateway, node: &TestApp, request_id: &str) -> awc::ClientRequest {
    claude_code_headers(
        node.client
            .post(node.url("/anthropic/v1/messages?beta=true")),
        &gw.bearer,
    )
    .insert_header(("x-request-id", request_id))
}

fn codex(gw: &AgentGateway, session: &str, request_id: &str) -> awc::ClientRequest {
    codex_headers(
        gw.app.client.post(gw.app.url("/v1/responses")),
        &gw.bearer,
        session,
    )
    .insert_header(("x-request-id", request_id))
}

fn placed(e: &RequestEvent) -> (u64, Option<&str>, Option<u64>) {
    (
        e.session.seq,
        e.session.lineage.as_deref(),
        e.session.parent_seq,
    )
}

fn id_and_source(e: &RequestEvent) -> (&str, &str) {
    (e.session.id.as_str(), e.session.source.as_str())
}

#[actix_web::test]
async fn claude_code_session_ids_come_from_the_header_or_either_user_id_form() {
    let gw = AgentGateway::start().await;
    let app = &gw.app;
    gw.post(claude(&gw, app, "cc-json"), &claude_code_request())
        .await;
    let mut legacy = claude_code_request();
    legacy["metadata"]["user_id"] = json!(
        "user_9c1f4e7a2b6d8e0f3a5c7b9d1e2f4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4b6d8f_account__session_5b2e8f3a-1c4d-4e6f-9a0b-7d8c6e5f4a3b"
    );
    gw.post(claude(&gw, app, "cc-legacy"), &legacy).await;
    // Since v2.1.86 every request has the header; it wins over the body.
    let header = claude(&gw, app, "cc-header").insert_header((
        "x-claude-code-session-id",
        "8f0e6d4c-2b1a-4c9e-8d7f-6a5b4c3d2e1f",
    ));
    gw.post(header, &claude_code_request()).await;

    let events = gw.events(&[app], 3).await;
    assert_eq!(
        id_and_source(event(&events, "cc-json")),
        (CLAUDE_CODE_SESSION, "metadata.user_id")
    );
    assert_eq!(
        id_and_source(event(&events, "cc-legacy")),
        ("5b2e8f3a-1c4d-4e6f-9a0b-7d8c6e5f4a3b", "metadata.user_id")
    );
    assert_eq!(
        id_and_source(event(&events, "cc-header")),
        (
            "8f0e6d4c-2b1a-4c9e-8d7f-6a5b4c3d2e1f",
            "x-claude-code-session-id"
        )
    );
    for id in ["cc-json", "cc-legacy", "cc-header"] {
        assert_eq!(placed(event(&events, id)), (1, Some("new"), None), "{id}");
    }
    gw.stop().await;
}

#[actix_web::test]
async fn claude_code_turns_continue_and_an_edited_prompt_forks() {
    let gw = AgentGateway::start().await;
    let app = &gw.app;
    let first = claude_code_request();
    let u1 = first["messages"][0].clone();
    let [a1, r1] = claude_code_tool_round();
    let a2 = assistant_text(
        "`rounds_each_line` fails because `total_cents` rounds every line before summing.",
    );
    let history = vec![u1, a1, r1, a2];
    let turns = [
        ("t1", first.clone()),
        ("t2", claude_code_turn(&history[..3], 2)),
        (
            "t3",
            claude_code_turn(
                &[
                    history.clone(),
                    vec![user_text("Fix it: sum first, then round.")],
                ]
                .concat(),
                3,
            ),
        ),
        // Esc-Esc: the user goes back and edits the last prompt.
        (
            "t4",
            claude_code_turn(
                &[
                    history.clone(),
                    vec![user_text(
                        "Fix it, and add a regression test for 19.99 × 3.",
                    )],
                ]
                .concat(),
                4,
            ),
        ),
    ];
    for (id, body) in &turns {
        let sent = serde_json::to_vec(body).unwrap();
        let (status, headers, answer) = gw.send_raw(claude(&gw, app, id), sent.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            String::from_utf8_lossy(&answer),
            String::from_utf8_lossy(ANTHROPIC_TOOL_USE),
            "the stream must reach the client untouched"
        );
        assert!(headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream")));
        let upstream = gw.upstream.last();
        assert_eq!(
            String::from_utf8_lossy(&upstream.body),
            String::from_utf8_lossy(&sent),
            "{id}: body changed"
        );
        assert_eq!(
            (upstream.path.as_str(), upstream.query.as_str()),
            ("/v1/messages", "beta=true")
        );
        assert_eq!(upstream.header("x-api-key"), Some(ANTHROPIC_KEY));
        assert!(!upstream.has_header("authorization"));
        assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(
            upstream.header("anthropic-beta"),
            Some("claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14")
        );
        assert_eq!(upstream.header("x-stainless-retry-count"), Some("0"));
    }

    let events = gw.events(&[app], 4).await;
    assert_eq!(placed(event(&events, "t1")), (1, Some("new"), None));
    assert_eq!(
        placed(event(&events, "t2")),
        (2, Some("continuation"), Some(1))
    );
    assert_eq!(
        placed(event(&events, "t3")),
        (3, Some("continuation"), Some(2))
    );
    assert_eq!(placed(event(&events, "t4")), (4, Some("fork"), Some(3)));
    for e in &events {
        assert_eq!(id_and_source(e), (CLAUDE_CODE_SESSION, "metadata.user_id"));
    }

    // What the turn added: the answer's tool call and its (failed) result.
    let t2 = event(&events, "t2").session.turn.clone().unwrap();
    assert_eq!((t2.messages, t2.added.len()), (3, 2));
    let call = &t2.added[0].parts[1];
    assert_eq!(call.kind, TurnPartKind::ToolCall);
    assert_eq!(call.name.as_deref(), Some("Bash"));
    assert_eq!(call.id.as_deref(), Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"));
    let result = &t2.added[1].parts[0];
    assert_eq!(result.kind, TurnPartKind::ToolResult);
    assert!(result.is_error);
    assert!(result.text.as_deref().unwrap().contains("left: 1999"));
    let t4 = event(&events, "t4").session.turn.clone().unwrap();
    assert_eq!((t4.messages, t4.added.len()), (5, 1));
    assert!(t4.added[0].parts[0]
        .text
        .as_deref()
        .unwrap()
        .contains("regression test"));

    // Read from the stream: model, stop reason, usage with both cache counters.
    let t1 = event(&events, "t1");
    assert_eq!(t1.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
    assert_eq!(t1.finish_reason.as_deref(), Some("tool_use"));
    assert!(t1.stream);
    let usage = t1.usage.clone().unwrap();
    assert_eq!(usage.prompt_tokens, Some(6 + 1811 + 14230));
    assert_eq!(usage.completion_tokens, Some(87));
    assert_eq!(usage.cached_tokens, Some(14230));
    let recorded = t1.response.body.value();
    assert_eq!(
        recorded["content"],
        "I'll run the cart tests to see the failure."
    );
    assert_eq!(recorded["tool_calls"][0]["name"], "Bash");
    let input: Value =
        serde_json::from_str(recorded["tool_calls"][0]["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["command"], "cargo test -p cart 2>&1 | tail -30");
    gw.stop().await;
}

#[actix_web::test]
async fn two_sessions_that_start_with_the_same_prompt_are_never_merged() {
    let gw = AgentGateway::start().await;
    let app = &gw.app;
    let first = claude_code_request();
    let [a1, r1] = claude_code_tool_round();
    let second = claude_code_turn(&[first["messages"][0].clone(), a1, r1], 2);
    let in_session = |session: &str, id: &str| {
        claude(&gw, app, id).insert_header(("x-claude-code-session-id", session.to_owned()))
    };
    gw.post(in_session("session-a", "a1"), &first).await;
    gw.post(in_session("session-b", "b1"), &first).await;
    gw.post(in_session("session-b", "b2"), &second).await;
    gw.post(in_session("session-a", "a2"), &second).await;
    // Without any id, the same prompt twice is two sessions of one call each.
    let mut anonymous = first.clone();
    anonymous.as_object_mut().unwrap().remove("metadata");
    gw.post(claude(&gw, app, "anon-1"), &anonymous).await;
    gw.post(claude(&gw, app, "anon-2"), &anonymous).await;

    let events = gw.events(&[app], 6).await;
    assert_eq!(event(&events, "a1").session.id, "session-a");
    assert_eq!(event(&events, "b1").session.id, "session-b");
    assert_eq!(placed(event(&events, "a1")), (1, Some("new"), None));
    assert_eq!(placed(event(&events, "b1")), (1, Some("new"), None));
    assert_eq!(
        placed(event(&events, "b2")),
        (2, Some("continuation"), Some(1))
    );
    assert_eq!(
        placed(event(&events, "a2")),
        (2, Some("continuation"), Some(1))
    );
    for id in ["anon-1", "anon-2"] {
        let e = event(&events, id);
        assert_eq!(id_and_source(e), (id, "generated"));
        assert_eq!(placed(e), (1, Some("new"), None));
    }
    gw.stop().await;
}

#[actix_web::test]
async fn codex_sessions_and_the_responses_stream() {
    let gw = AgentGateway::start().await;
    let session = "0199a3c5-1f2e-7c3d-8e4f-5a6b7c8d9e0f";
    let first = codex_request();
    let sent = serde_json::to_vec(&first).unwrap();
    let (status, _, answer) = gw.send_raw(codex(&gw, session, "cx-1"), sent.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        String::from_utf8_lossy(RESPONSES_TOOL_CALL)
    );
    let upstream = gw.upstream.last();
    assert_eq!(upstream.path, "/v1/responses");
    assert_eq!(
        String::from_utf8_lossy(&upstream.body),
        String::from_utf8_lossy(&sent)
    );
    assert_eq!(
        upstream.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    for (name, value) in [
        ("originator", "codex_cli_rs"),
        ("session_id", session),
        ("version", "0.46.0"),
        ("openai-beta", "responses=experimental"),
    ] {
        assert_eq!(upstream.header(name), Some(value), "{name}");
    }

    // Codex is stateless: the next call sends everything again plus the tool round.
    let mut second = first.clone();
    let input = second["input"].as_array_mut().unwrap();
    input.extend([
        json!({"type": "reasoning", "summary": [], "encrypted_content": "gAAAAABoweQ2…"}),
        json!({"type": "function_call", "name": "shell", "call_id": "call_Qx7m2c1V9yT0",
               "arguments": "{\"command\":[\"cargo\",\"test\",\"-p\",\"cart\"],\"workdir\":\"/home/dev/shop\"}"}),
        json!({"type": "function_call_output", "call_id": "call_Qx7m2c1V9yT0",
               "output": "{\"output\":\"test totals::rounds_each_line ... FAILED\",\"metadata\":{\"exit_code\":101,\"duration_seconds\":3.1}}"}),
    ]);
    gw.post(codex(&gw, session, "cx-2"), &second).await;
    // Newer builds name the header `session-id`.
    let newer = gw
        .app
        .client
        .post(gw.app.url("/v1/responses"))
        .insert_header(("authorization", gw.bearer.clone()))
        .insert_header(("originator", "codex_cli_rs"))
        .insert_header(("session-id", "019a0b1c-2d3e-7f40-8152-637485960a1b"))
        .insert_header(("x-request-id", "cx-newer"));
    gw.post(newer, &first).await;

    let events = gw.events(&[&gw.app], 3).await;
    let e1 = event(&events, "cx-1");
    assert_eq!(id_and_source(e1), (session, "session-id"));
    assert_eq!(placed(e1), (1, Some("new"), None));
    assert_eq!(e1.model.as_deref(), Some("gpt-5-codex"));
    assert_eq!(e1.finish_reason.as_deref(), Some("completed"));
    let usage = e1.usage.clone().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            usage.cached_tokens
        ),
        (Some(4210), Some(96), Some(4306), Some(3968))
    );
    assert_eq!(e1.response.body.value()["tool_calls"][0]["name"], "shell");
    assert_eq!(
        e1.response.body.value()["tool_calls"][0]["id"],
        "call_Qx7m2c1V9yT0"
    );

    let e2 = event(&events, "cx-2");
    assert_eq!(placed(e2), (2, Some("continuation"), Some(1)));
    let kinds: Vec<TurnPartKind> = e2
        .session
        .turn
        .as_ref()
        .unwrap()
        .added
        .iter()
        .map(|m| m.parts[0].kind)
        .collect();
    assert_eq!(
        kinds,
        [
            TurnPartKind::Thinking,
            TurnPartKind::ToolCall,
            TurnPartKind::ToolResult
        ]
    );
    assert_eq!(
        id_and_source(event(&events, "cx-newer")),
        ("019a0b1c-2d3e-7f40-8152-637485960a1b", "session-id")
    );
    gw.stop().await;
}

#[actix_web::test]
async fn openai_sdk_chat_stream_passes_through_byte_for_byte() {
    let gw = AgentGateway::start().await;
    let app = &gw.app;
    let raw = OPENAI_CHAT_REQUEST.trim_end().to_owned();
    let stainless = [
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "1.109.1"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-arch", "x64"),
        ("x-stainless-runtime", "CPython"),
        ("x-stainless-runtime-version", "3.12.3"),
        ("x-stainless-async", "false"),
        ("x-stainless-retry-count", "0"),
        ("x-stainless-read-timeout", "600"),
    ];
    let mut request = app
        .client
        .post(app.url("/v1/chat/completions"))
        .insert_header(("authorization", gw.bearer.clone()))
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json"))
        .insert_header(("user-agent", "OpenAI/Python 1.109.1"))
        .insert_header(("x-request-id", "sdk-chat"));
    for (name, value) in stainless {
        request = request.insert_header((name, value));
    }
    let (status, _, answer) = gw.send_raw(request, raw.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        String::from_utf8_lossy(OPENAI_CHAT_STREAM)
    );
    let upstream = gw.upstream.last();
    assert_eq!(String::from_utf8_lossy(&upstream.body), raw);
    assert_eq!(upstream.header("user-agent"), Some("OpenAI/Python 1.109.1"));
    for (name, value) in stainless {
        assert_eq!(upstream.header(name), Some(value), "{name}");
    }

    let events = gw.events(&[app], 1).await;
    let e = event(&events, "sdk-chat");
    assert_eq!(id_and_source(e), ("support-7f3a", "metadata.session_id"));
    assert_eq!(placed(e), (1, Some("new"), None));
    assert_eq!(e.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(e.usage.clone().unwrap().total_tokens, Some(99));
    assert_eq!(
        e.response.body.value()["tool_calls"][0]["name"],
        "order_status"
    );
    assert_eq!(
        e.response.body.value()["tool_calls"][0]["input"],
        "{\"order_id\":\"1042\"}"
    );
    // The system message is the conversation's root; the turn is the user's question.
    let turn = e.session.turn.as_ref().unwrap();
    assert_eq!((turn.messages, turn.added[0].role.as_str()), (1, "user"));
    gw.stop().await;
}
