//! The sessions pages over HTTP: sessions read from the file sink's per-session JSONL, listed
//! by project and time, one session's turns in order with tool calls and token counts.

use std::io::Write;
use std::path::Path;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{id_of, spawn_app, spawn_app_with, TestApp, MANAGEMENT_TOKEN};

/// The `llmp_admin_session` cookie of a fresh UI login.
async fn login(app: &TestApp) -> String {
    let mut form = app
        .client
        .get(app.url("/admin/login"))
        .send()
        .await
        .unwrap();
    let pre_session = form
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let html = String::from_utf8(form.body().await.unwrap().to_vec()).unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let res = app
        .client
        .post(app.url("/admin/login"))
        .insert_header(("Cookie", pre_session))
        .send_form(&[("csrf_token", csrf), ("token", MANAGEMENT_TOKEN)])
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    res.headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("llmp_admin_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap()
}

async fn page(app: &TestApp, cookie: Option<&str>, path: &str) -> (u16, String) {
    let mut request = app.client.get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.insert_header(("Cookie", cookie.to_owned()));
    }
    let mut res = request.send().await.unwrap();
    let body = res.body().limit(4 << 20).await.unwrap();
    (
        res.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn append(dir: &Path, upstream: &str, session: &str, lines: &[Value]) {
    let day = Utc::now().format("%Y-%m-%d").to_string();
    let dir = dir.join(upstream).join(day);
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{session}.jsonl")))
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// The lines the file sink writes for one call (dispatcher-node `file_layout`).
fn call(
    session: &str,
    project: &str,
    seq: u64,
    lineage: &str,
    added: Value,
    answer: Value,
) -> Vec<Value> {
    let at = Utc::now() - Duration::minutes(10) + Duration::seconds(seq as i64 * 30);
    let meta = json!({"ts": at.to_rfc3339(), "machine": "proxy-1", "host": "api.anthropic.com",
        "session": session, "request_id": format!("req-{seq}"), "event_id": format!("ev-{seq}"),
        "provider": "anthropic", "project_id": project});
    let parent = (seq > 1).then(|| if lineage == "fork" { seq - 2 } else { seq - 1 });
    let mut lines = vec![
        json!({"type": "request", "seq": seq, "method": "POST", "path": "/v1/messages",
        "model": "claude-sonnet-4-5-20250929", "upstream": "api.anthropic.com", "lineage": lineage,
        "parent_seq": parent, "headers": {}, "body": "{\"model\":\"claude-sonnet-4-5-20250929\",\"max_tokens\":32000,\"system\":[",
        "truncated": true, "turn": {"messages": seq * 2 - 1, "added": added}, "_meta": meta}),
    ];
    if lineage == "fork" {
        lines.push(json!({"type": "fork", "seq": seq, "parent_seq": parent, "_meta": meta}));
    }
    lines.push(json!({"type": "response", "seq": seq, "status": 200, "headers": {}, "body": answer,
        "truncated": false, "stream": true, "finish_reason": "tool_use",
        "usage": {"prompt_tokens": 16047, "completion_tokens": 87, "total_tokens": 16134, "cached_tokens": 14230},
        "termination": "eof", "_meta": meta}));
    lines
}

#[actix_web::test]
async fn sessions_are_listed_by_project_and_read_turn_by_turn() {
    let app = spawn_app().await;
    let project = app.create_project("shop-agents").await;
    let project_id = id_of(&project);
    let dir = app.settings.events_dir();
    let session = "4d1c2b7e-93a5-4f0e-8b62-1a9d3c5e7f20";
    let start = json!({"type": "session_start", "provider": "anthropic", "upstream": "api.anthropic.com",
        "source": "x-claude-code-session-id", "_meta": {"ts": (Utc::now() - Duration::minutes(10)).to_rfc3339(),
        "machine": "proxy-1", "host": "api.anthropic.com", "session": session}});
    let prompt = json!([{"role": "user", "parts": [{"kind": "text", "text": "Why does `cargo test -p cart` fail?"}]}]);
    let tool_round = json!([
        {"role": "assistant", "parts": [{"kind": "text", "text": "I'll run the tests."},
            {"kind": "tool_call", "name": "Bash", "id": "toolu_01", "text": "{\"command\":\"cargo test -p cart\"}"}]},
        {"role": "user", "parts": [{"kind": "tool_result", "id": "toolu_01", "text": "left: 1999 right: 2000", "is_error": true}]}
    ]);
    let edited =
        json!([{"role": "user", "parts": [{"kind": "text", "text": "Only look at totals.rs"}]}]);
    let streamed = json!({"content": "I'll run the tests.", "tool_calls": [{"id": "toolu_01", "name": "Bash", "input": "{\"command\":\"cargo test -p cart\"}"}]});
    let mut lines = vec![start];
    // Written as calls finished: out of sequence order.
    lines.extend(call(
        session,
        &project_id,
        2,
        "continuation",
        tool_round,
        json!({"content": "Rounding per line is the bug."}),
    ));
    lines.extend(call(session, &project_id, 1, "new", prompt, streamed));
    lines.extend(call(
        session,
        &project_id,
        3,
        "fork",
        edited,
        json!({"content": "Looking at totals.rs."}),
    ));
    append(&dir, "api.anthropic.com", session, &lines);
    let other = json!({"type": "session_start", "source": "generated", "_meta": {"ts": Utc::now().to_rfc3339(), "session": "req-own"}});
    append(&dir, "api.openai.com", "req-own", &[other]);
    append(
        &dir,
        "api.openai.com",
        "req-own",
        &call("req-own", &project_id, 1, "new", json!([]), json!("cut")),
    );

    let (status, _) = page(&app, None, "/admin/sessions").await;
    assert_eq!(status, 303, "the pages need a login");
    let cookie = login(&app).await;

    let (status, list) = page(&app, Some(&cookie), "/admin/sessions").await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(&format!("data-session-id=\"{session}\"")),
        "{list}"
    );
    assert!(list.contains("shop-agents"));
    assert!(list.contains("x-claude-code-session-id"));
    assert!(
        list.contains("48,141"),
        "prompt tokens of three calls: {list}"
    );
    assert!(
        !list.contains("req-own"),
        "single calls are hidden by default"
    );
    let (_, with_single) = page(&app, Some(&cookie), "/admin/sessions?single=1").await;
    assert!(with_single.contains("req-own"));
    let (_, other_project) = page(
        &app,
        Some(&cookie),
        &format!("/admin/sessions?project_id={}", uuid::Uuid::new_v4()),
    )
    .await;
    assert!(other_project.contains("No sessions in this range."));
    let (status, _) = page(&app, Some(&cookie), "/admin/sessions?since=last-week").await;
    assert_eq!(status, 400);

    let (status, show) = page(&app, Some(&cookie), &format!("/admin/sessions/{session}")).await;
    assert_eq!(status, 200, "{show}");
    let at = |needle: &str| {
        show.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing: {show}"))
    };
    assert!(at("data-seq=\"1\"") < at("data-seq=\"2\""));
    assert!(at("data-seq=\"2\"") < at("data-seq=\"3\""));
    assert!(show.contains("fork of #1"));
    assert!(show.contains("continues #1"));
    assert!(show.contains("Bash"));
    assert!(show.contains("tool error"));
    assert!(show.contains("left: 1999 right: 2000"));
    assert!(show.contains("16,047"));
    assert!(show.contains("14,230 cached"));
    assert!(show.contains("Rounding per line is the bug."));
    assert!(show.contains("shop-agents"), "the project by name");

    let (_, missing) = page(&app, Some(&cookie), "/admin/sessions/nope").await;
    assert!(missing.contains("No calls of session"));
    app.stop().await;
}

#[actix_web::test]
async fn the_page_says_where_it_looked_when_there_are_no_session_files() {
    let app = spawn_app_with(|s| s.events.file_dir = "nowhere".into()).await;
    let cookie = login(&app).await;
    let (status, body) = page(&app, Some(&cookie), "/admin/sessions").await;
    assert_eq!(status, 200);
    assert!(body.contains("No session files at"), "{body}");
    assert!(body.contains("nowhere"));
    app.stop().await;
}
