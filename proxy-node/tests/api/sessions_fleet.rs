//! Sessions across a fleet: two proxy nodes on one Redis number concurrent calls of a session
//! 1..n and share its lineage; the Redis store places calls exactly as the session actor does.

use std::collections::HashSet;

use llm_proxy_testkit::redis_prefix::{test_redis_url, RedisPrefix};
use proxy_node::session::{
    Conversation, MemoryTracker, Placement, RedisTracker, SessionBook, SessionKeys, SessionTracker,
};
use serde_json::{json, Value};

use crate::fixtures::{
    assistant_text, claude_code_headers, claude_code_request, claude_code_tool_round,
    claude_code_turn, event, user_text, AgentGateway,
};
use crate::helpers::TestApp;

fn claude(gw: &AgentGateway, node: &TestApp, session: &str, id: &str) -> awc::ClientRequest {
    claude_code_headers(
        node.client.post(node.url("/anthropic/v1/messages")),
        &gw.bearer,
    )
    .insert_header(("x-claude-code-session-id", session.to_owned()))
    .insert_header(("x-request-id", id.to_owned()))
}

#[actix_web::test]
async fn twenty_concurrent_calls_of_one_session_on_two_nodes_are_numbered_1_to_20() {
    let gw = AgentGateway::start_on_redis().await;
    let peer = gw.peer();
    let session = format!("fleet-{}", uuid::Uuid::new_v4());
    // The main agent's turn and nineteen subagents, all at once, spread over both nodes.
    let bodies: Vec<Value> = (0..20)
        .map(|i| {
            let mut body = claude_code_request();
            if i > 0 {
                body["system"] = json!("You are a file search specialist for Claude Code.");
                body["messages"] = json!([user_text(&format!(
                    "Find every caller of `total_cents` in crate {i}."
                ))]);
            }
            body
        })
        .collect();
    let calls = bodies.iter().enumerate().map(|(i, body)| {
        let node = if i % 2 == 0 { &gw.app } else { &peer };
        gw.post(claude(&gw, node, &session, &format!("c{i}")), body)
    });
    futures_util::future::join_all(calls).await;

    let events = gw.events(&[&gw.app, &peer], 20).await;
    assert_eq!(events.len(), 20);
    let mut seqs: Vec<u64> = events.iter().map(|e| e.session.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.session.id == session));
    let ids: HashSet<&str> = events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids.len(), 20, "one event per call");
    assert!(
        events
            .iter()
            .all(|e| e.session.lineage.as_deref() == Some("new")),
        "no call shares a conversation with another"
    );
    peer.stop().await;
    gw.stop().await;
}

#[actix_web::test]
async fn lineage_is_shared_by_every_node() {
    let gw = AgentGateway::start_on_redis().await;
    let peer = gw.peer();
    let session = format!("shared-{}", uuid::Uuid::new_v4());
    let first = claude_code_request();
    let [a1, r1] = claude_code_tool_round();
    let history = vec![
        first["messages"][0].clone(),
        a1,
        r1,
        assistant_text("`total_cents` rounds every line before summing."),
    ];
    let then = |prompt: &str, turn: u32| {
        claude_code_turn(&[history.clone(), vec![user_text(prompt)]].concat(), turn)
    };
    gw.post(claude(&gw, &gw.app, &session, "n1"), &first).await;
    gw.post(
        claude(&gw, &peer, &session, "n2"),
        &claude_code_turn(&history[..3], 2),
    )
    .await;
    gw.post(claude(&gw, &gw.app, &session, "n3"), &then("Fix it.", 3))
        .await;
    gw.post(
        claude(&gw, &peer, &session, "n4"),
        &then("Fix it and add a test.", 4),
    )
    .await;

    let events = gw.events(&[&gw.app, &peer], 4).await;
    let placed = |id: &str| {
        let e = event(&events, id);
        (
            e.session.seq,
            e.session.lineage.clone(),
            e.session.parent_seq,
        )
    };
    assert_eq!(placed("n1"), (1, Some("new".into()), None));
    assert_eq!(placed("n2"), (2, Some("continuation".into()), Some(1)));
    assert_eq!(placed("n3"), (3, Some("continuation".into()), Some(2)));
    assert_eq!(placed("n4"), (4, Some("fork".into()), Some(3)));

    // The session's state is three keys under the prefix, expiring within a day.
    let client = redis::Client::open(test_redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = &gw.app.settings.redis.key_prefix;
    for suffix in ["seq", "prefixes", "tips"] {
        let key = format!("{prefix}:session:{{{session}}}:{suffix}");
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!((1..=86_400).contains(&ttl), "{key}: ttl {ttl}");
    }
    peer.stop().await;
    gw.stop().await;
}

/// One scenario of a session's calls: continuations, an edit, a retry, a continued retry, a
/// subagent-like call sharing only the system prompt, a call without a conversation and a
/// Responses call chained on the provider.
fn scenario() -> Vec<Value> {
    let chat = |texts: &[&str]| {
        let roles = ["user", "assistant"];
        let messages: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"role": roles[i % 2], "content": t}))
            .collect();
        json!({"system": "You are terse.", "messages": messages})
    };
    vec![
        chat(&["u1"]),
        chat(&["u1", "a1", "u2"]),
        chat(&["u1", "a1", "u2", "a2", "u3"]),
        chat(&["u1", "a1", "u2 edited"]),
        chat(&["u1", "a1", "u2 edited"]),
        chat(&["u1", "a1", "u2 edited", "a", "u"]),
        chat(&["other start"]),
        Value::Null,
        json!({"input": "go on", "previous_response_id": "resp_1"}),
    ]
}

async fn run(tracker: &dyn SessionTracker, session: &str) -> Vec<Placement> {
    let mut out = Vec::new();
    for body in scenario() {
        let path = if body.get("input").is_some() {
            "/v1/responses"
        } else {
            "/v1/messages"
        };
        let chain = Conversation::read(path, Some(&body)).map(|c| c.chain());
        out.push(tracker.place(session, chain.as_ref()).await.unwrap());
    }
    out
}

#[actix_web::test]
async fn the_redis_store_places_calls_exactly_like_the_session_actor() {
    let memory = MemoryTracker::start(SessionBook::default());
    let prefix = RedisPrefix::unique();
    let redis = RedisTracker::new(prefix.url(), SessionKeys::new(prefix.prefix())).unwrap();
    let in_memory = run(&memory, "conformance").await;
    let on_redis = run(&redis, "conformance").await;
    assert_eq!(in_memory, on_redis);
    let lineages: Vec<Option<&str>> = in_memory
        .iter()
        .map(|p| p.lineage.map(|l| l.as_str()))
        .collect();
    assert_eq!(
        lineages,
        [
            Some("new"),
            Some("continuation"),
            Some("continuation"),
            Some("fork"),
            Some("fork"),
            Some("continuation"),
            Some("new"),
            None,
            Some("continuation"),
        ]
    );
    prefix.cleanup().await.unwrap();
}
