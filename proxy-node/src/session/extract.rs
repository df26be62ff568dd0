//! Session id from the client (DESIGN §6, VENDORS §6), first match wins; a call without an id
//! is its own session (source [`GENERATED`]). The id is only ever read from what the client
//! sent: two calls are never put in one session because their content looks alike.

use actix_web::http::header::HeaderMap;
use llm_proxy_core::event::SessionInfo;
pub use llm_proxy_core::event::GENERATED_SESSION as GENERATED;
use serde_json::Value;

/// Longer ids are ignored (they would become Redis keys and file names).
const MAX_ID_LEN: usize = 256;

fn usable(id: &str) -> Option<&str> {
    let id = id.trim();
    (!id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)).then_some(id)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(usable)
}

fn found(id: &str, source: &str) -> Option<SessionInfo> {
    Some(SessionInfo {
        id: id.to_owned(),
        source: source.to_owned(),
        ..SessionInfo::default()
    })
}

/// Claude Code's `metadata.user_id`: a JSON string with `session_id` (since v2.1.78), or the
/// legacy `user_<hex>_account_<uuid>_session_<uuid>` form.
fn from_user_id(user_id: &str) -> Option<String> {
    if user_id.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(user_id).ok()?;
        return v
            .get("session_id")
            .and_then(Value::as_str)
            .and_then(usable)
            .map(str::to_owned);
    }
    let (_, id) = user_id.rsplit_once("_session_")?;
    usable(id).map(str::to_owned)
}

pub fn extract(headers: &HeaderMap, body: Option<&Value>, request_id: &str) -> SessionInfo {
    let from_body = |pointer: &str| {
        body.and_then(|b| b.pointer(pointer))
            .and_then(Value::as_str)
            .and_then(usable)
    };
    header(headers, "x-claude-code-session-id")
        .and_then(|id| found(id, "x-claude-code-session-id"))
        .or_else(|| {
            from_body("/metadata/user_id")
                .and_then(from_user_id)
                .and_then(|id| found(&id, "metadata.user_id"))
        })
        .or_else(|| {
            // Codex: `session_id` in older builds, `session-id` in newer ones.
            header(headers, "session-id")
                .or_else(|| header(headers, "session_id"))
                .and_then(|id| found(id, "session-id"))
        })
        .or_else(|| {
            // Codex sets its cache key to the session id; a proxy in front that drops header
            // names with `_` (nginx's default) leaves only this. Other clients use the key
            // as a cache bucket shared by many conversations, so only Codex's counts.
            header(headers, "originator")
                .and_then(|_| from_body("/prompt_cache_key"))
                .and_then(|id| found(id, "prompt_cache_key"))
        })
        .or_else(|| {
            from_body("/conversation")
                .or_else(|| from_body("/conversation/id"))
                .and_then(|id| found(id, "conversation"))
        })
        .or_else(|| {
            from_body("/previous_response_id").and_then(|id| found(id, "previous_response_id"))
        })
        .or_else(|| {
            from_body("/metadata/session_id").and_then(|id| found(id, "metadata.session_id"))
        })
        .or_else(|| header(headers, "x-session-id").and_then(|id| found(id, "x-session-id")))
        .unwrap_or_else(|| SessionInfo {
            id: request_id.to_owned(),
            source: GENERATED.to_owned(),
            ..SessionInfo::default()
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut req = TestRequest::default();
        for (k, v) in pairs {
            req = req.insert_header((*k, *v));
        }
        req.to_http_request().headers().clone()
    }

    fn id_and_source(headers: &HeaderMap, body: Option<&Value>) -> (String, String) {
        let s = extract(headers, body, "req-1");
        (s.id, s.source)
    }

    fn pair(id: &str, source: &str) -> (String, String) {
        (id.to_owned(), source.to_owned())
    }

    #[test]
    fn each_source_in_order() {
        let none = headers(&[]);
        let cc = headers(&[
            ("x-claude-code-session-id", "cc-1"),
            ("x-session-id", "other"),
        ]);
        let json_user = json!({"metadata": {"user_id": "{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s-json\"}"}});
        assert_eq!(
            id_and_source(&cc, Some(&json_user)),
            pair("cc-1", "x-claude-code-session-id")
        );
        assert_eq!(
            id_and_source(&none, Some(&json_user)),
            pair("s-json", "metadata.user_id")
        );
        let legacy = json!({"metadata": {"user_id": "user_ab12_account__session_s-legacy"}});
        assert_eq!(
            id_and_source(&none, Some(&legacy)),
            pair("s-legacy", "metadata.user_id")
        );
        for name in ["session_id", "session-id"] {
            let codex = headers(&[(name, "codex-1"), ("originator", "codex_cli_rs")]);
            let body = json!({"prompt_cache_key": "codex-1", "previous_response_id": "resp_1"});
            assert_eq!(
                id_and_source(&codex, Some(&body)),
                pair("codex-1", "session-id")
            );
        }
        let behind_nginx = headers(&[("originator", "codex_cli_rs")]);
        assert_eq!(
            id_and_source(&behind_nginx, Some(&json!({"prompt_cache_key": "k-1"}))),
            pair("k-1", "prompt_cache_key")
        );
        assert_eq!(
            id_and_source(&none, Some(&json!({"conversation": {"id": "conv_1"}}))),
            pair("conv_1", "conversation")
        );
        assert_eq!(
            id_and_source(&none, Some(&json!({"conversation": "conv_2"}))),
            pair("conv_2", "conversation")
        );
        assert_eq!(
            id_and_source(&none, Some(&json!({"previous_response_id": "resp_9"}))),
            pair("resp_9", "previous_response_id")
        );
        assert_eq!(
            id_and_source(&none, Some(&json!({"metadata": {"session_id": "m-1"}}))),
            pair("m-1", "metadata.session_id")
        );
        assert_eq!(
            id_and_source(&headers(&[("x-session-id", "x-1")]), None),
            pair("x-1", "x-session-id")
        );
        assert_eq!(
            id_and_source(&none, Some(&json!({"model": "x"}))),
            pair("req-1", GENERATED)
        );
    }

    #[test]
    fn a_cache_key_alone_is_not_a_session() {
        let body = json!({"prompt_cache_key": "tenant-42", "model": "gpt-5"});
        assert_eq!(
            id_and_source(&headers(&[]), Some(&body)),
            pair("req-1", GENERATED)
        );
    }

    #[test]
    fn unusable_ids_are_skipped() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let body = json!({"metadata": {"user_id": format!("user_a_account__session_{long}")}});
        let h = headers(&[("x-claude-code-session-id", "  "), ("x-session-id", "ok")]);
        assert_eq!(id_and_source(&h, Some(&body)), pair("ok", "x-session-id"));
        let empty_json = json!({"metadata": {"user_id": "{\"session_id\":\"\"}"}});
        assert_eq!(id_and_source(&headers(&[]), Some(&empty_json)).1, GENERATED);
    }
}
