//! Pure functions of the file sink: paths, and the lines of the prime-radiant session format
//! (`session_start`, then per call a `request` line, a `fork` line when the call forked the
//! conversation, and a `response` line) as `Value`s for readers and tests; the sink itself
//! writes them with [`super::file_lines`].

use std::path::{Path, PathBuf};

use llm_proxy_core::event::{layout_component, RequestEvent};
use serde_json::Value;

use super::file_lines::{write_session_lines, write_session_start};

/// `<dir>/<upstream>/<YYYY-MM-DD>/<session>.jsonl` (UTC date of `occurred_at`).
pub fn session_file(dir: &Path, event: &RequestEvent) -> PathBuf {
    let upstream = layout_component(&event.upstream, "unknown");
    let session = if event.session.id.is_empty() {
        event.request_id.as_str()
    } else {
        event.session.id.as_str()
    };
    let session = layout_component(session, "no-session");
    dir.join(upstream)
        .join(event.occurred_at.format("%Y-%m-%d").to_string())
        .join(format!("{session}.jsonl"))
}

/// `<dir>/events-YYYY-MM-DD.jsonl`.
pub fn daily_file(dir: &Path, event: &RequestEvent) -> PathBuf {
    dir.join(format!(
        "events-{}.jsonl",
        event.occurred_at.format("%Y-%m-%d")
    ))
}

/// The `session_start` line written when a session file is created, as a `Value`.
pub fn session_start_line(event: &RequestEvent) -> Value {
    let mut buf = Vec::new();
    match write_session_start(&mut buf, event) {
        Ok(()) => serde_json::from_slice(&buf).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The lines of one event as `Value`s: `request`, `fork` (forked calls only), `response`.
pub fn session_lines(event: &RequestEvent) -> Vec<Value> {
    let mut buf = Vec::new();
    if write_session_lines(&mut buf, event).is_err() {
        return Vec::new();
    }
    buf.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use llm_proxy_testkit::fake_sinks::sample_event;

    /// The format as it was written through `json!` objects before the sink serialised lines
    /// directly: the reference the writer must match byte for byte.
    mod reference {
        use chrono::{DateTime, SecondsFormat, Utc};
        use llm_proxy_core::event::{Lineage, RequestEvent};
        use serde_json::{json, Value};

        fn ts(at: DateTime<Utc>) -> String {
            at.to_rfc3339_opts(SecondsFormat::Nanos, true)
        }

        fn meta(event: &RequestEvent, at: DateTime<Utc>, with_request: bool) -> Value {
            let mut meta = json!({
                "ts": ts(at),
                "machine": event.node,
                "host": event.upstream,
                "session": event.session.id,
            });
            if with_request {
                meta["request_id"] = json!(event.request_id);
                meta["event_id"] = json!(event.id);
                meta["provider"] = json!(event.provider);
                if let Some(project) = event.project_id {
                    meta["project_id"] = json!(project);
                }
                if let Some(token) = event.token_id {
                    meta["token_id"] = json!(token);
                }
            }
            meta
        }

        /// The `session_start` line written when a session file is created.
        pub fn session_start_line(event: &RequestEvent) -> Value {
            json!({
                "type": "session_start",
                "provider": event.provider,
                "upstream": event.upstream,
                "source": event.session.source,
                "_meta": meta(event, event.occurred_at, false),
            })
        }

        /// The lines of one event: `request`, `fork` (forked calls only), `response`.
        pub fn session_lines(event: &RequestEvent) -> Vec<Value> {
            let end = event.occurred_at
                + chrono::Duration::microseconds((event.duration_ms * 1000.0).round() as i64);
            let request = json!({
                "type": "request",
                "seq": event.session.seq,
                "method": event.method,
                "path": event.path,
                "headers": event.request.headers,
                "body": event.request.body,
                "truncated": event.request.truncated,
                "model": event.model,
                "upstream": event.upstream,
                "lineage": event.session.lineage,
                "parent_seq": event.session.parent_seq,
                "turn": event.session.turn,
                "_meta": meta(event, event.occurred_at, true),
            });
            let forked =
                event.session.lineage.as_deref().and_then(Lineage::parse) == Some(Lineage::Fork);
            let fork = forked.then(|| {
                json!({
                    "type": "fork",
                    "seq": event.session.seq,
                    "parent_seq": event.session.parent_seq,
                    "_meta": meta(event, event.occurred_at, true),
                })
            });
            let response = json!({
                "type": "response",
                "seq": event.session.seq,
                "status": event.status,
                "headers": event.response.headers,
                "body": event.response.body,
                "truncated": event.response.truncated,
                "stream": event.stream,
                "timing": {
                    "ttfb_ms": event.ttfb_ms,
                    "total_ms": event.duration_ms,
                    "upstream_ms": event.upstream_ms,
                },
                "usage": event.usage,
                "finish_reason": event.finish_reason,
                "termination": event.termination,
                "error_code": event.error_code,
                "cache": event.cache,
                "upstream": event.upstream,
                "path": event.path,
                "_meta": meta(event, end, true),
            });
            let mut lines = vec![request];
            lines.extend(fork);
            lines.push(response);
            lines
        }
    }

    fn bytes_of(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for value in values {
            serde_json::to_writer(&mut out, value).unwrap();
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn the_direct_writer_matches_the_reference_format_byte_for_byte() {
        use llm_proxy_core::event::{SessionTurn, TurnMessage, TurnPart, TurnPartKind};
        let plain = sample_event();
        let mut forked = sample_event();
        forked.session.lineage = Some("fork".into());
        forked.session.parent_seq = Some(2);
        forked.project_id = Some(uuid::Uuid::now_v7());
        forked.token_id = Some(uuid::Uuid::now_v7());
        forked.usage = None;
        forked.ttfb_ms = None;
        forked.duration_ms = 12.345_678;
        forked.error_code = Some("upstream_timeout".into());
        forked.session.turn = Some(SessionTurn {
            messages: 3,
            added: vec![TurnMessage {
                role: "user".into(),
                parts: vec![TurnPart {
                    kind: TurnPartKind::default(),
                    text: Some("hi \"there\"\n".into()),
                    ..TurnPart::default()
                }],
            }],
            omitted: 1,
        });
        forked.request.body =
            serde_json::json!({"z": 1, "a": [1.5, null, "x"], "m": {"b": 2, "a": 1}}).into();
        forked.response.body = Value::String("not json \u{e9}".into()).into();
        for event in [plain, forked] {
            let mut direct = Vec::new();
            super::super::file_lines::write_session_start(&mut direct, &event).unwrap();
            super::super::file_lines::write_session_lines(&mut direct, &event).unwrap();
            let mut expected = vec![reference::session_start_line(&event)];
            expected.extend(reference::session_lines(&event));
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(bytes_of(&expected)).unwrap()
            );
        }
    }

    #[test]
    fn session_paths_are_sanitized() {
        let mut event = sample_event();
        event.upstream = "api.openai.com".into();
        event.session.id = "../../etc/passwd".into();
        let path = session_file(Path::new("/logs"), &event);
        let day = event.occurred_at.format("%Y-%m-%d").to_string();
        assert_eq!(
            path,
            PathBuf::from(format!("/logs/api.openai.com/{day}/.._.._etc_passwd.jsonl"))
        );
        event.session.id = "..".into();
        assert!(session_file(Path::new("/l"), &event).ends_with("no-session.jsonl"));
    }

    #[test]
    fn a_fork_gets_its_own_line_between_request_and_response() {
        let mut event = sample_event();
        event.session.seq = 5;
        event.session.lineage = Some("fork".into());
        event.session.parent_seq = Some(3);
        let kinds: Vec<Value> = session_lines(&event)
            .iter()
            .map(|l| l["type"].clone())
            .collect();
        assert_eq!(kinds, ["request", "fork", "response"]);
        let fork = &session_lines(&event)[1];
        assert_eq!(
            (fork["seq"].as_u64(), fork["parent_seq"].as_u64()),
            (Some(5), Some(3))
        );
        assert_eq!(fork["_meta"]["session"], event.session.id.as_str());

        event.session.lineage = Some("continuation".into());
        assert_eq!(session_lines(&event).len(), 2);
    }

    #[test]
    fn lines_carry_type_and_meta() {
        let event = sample_event();
        let lines = session_lines(&event);
        let [req, resp] = [&lines[0], &lines[1]];
        assert_eq!(req["type"], "request");
        assert_eq!(resp["type"], "response");
        for line in [req, resp] {
            assert_eq!(line["_meta"]["request_id"], event.request_id.as_str());
            assert_eq!(line["_meta"]["session"], event.session.id.as_str());
            assert_eq!(line["_meta"]["machine"], event.node.as_str());
            assert!(line["_meta"]["ts"].is_string());
        }
        assert_eq!(resp["usage"]["total_tokens"], 15);
        assert_eq!(session_start_line(&event)["type"], "session_start");
    }
}
