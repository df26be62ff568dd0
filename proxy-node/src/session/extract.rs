//! Session id from the client (DESIGN §6), first match wins; a call without an id is its own
//! session (source [`GENERATED`]).

use actix_web::http::header::HeaderMap;
use llm_proxy_core::event::SessionInfo;
use serde_json::Value;

/// The `source` of a session the gateway made up for a call without an id.
pub const GENERATED: &str = "generated";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

fn found(id: &str, source: &str) -> Option<SessionInfo> {
    Some(SessionInfo {
        id: id.to_owned(),
        source: source.to_owned(),
        ..SessionInfo::default()
    })
}

/// Claude Code's `metadata.user_id`: a JSON string with `session_id`, or the legacy
/// `user_<hex>_account_<uuid>_session_<uuid>` form.
fn from_user_id(user_id: &str) -> Option<String> {
    if user_id.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(user_id).ok()?;
        return v
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    }
    let (_, id) = user_id.rsplit_once("_session_")?;
    (!id.is_empty()).then(|| id.to_owned())
}

pub fn extract(headers: &HeaderMap, body: Option<&Value>, request_id: &str) -> SessionInfo {
    let from_body = |pointer: &str| {
        body.and_then(|b| b.pointer(pointer))
            .and_then(Value::as_str)
    };
    header(headers, "x-claude-code-session-id")
        .and_then(|id| found(id, "x-claude-code-session-id"))
        .or_else(|| {
            from_body("/metadata/user_id")
                .and_then(from_user_id)
                .and_then(|id| found(&id, "metadata.user_id"))
        })
        .or_else(|| {
            header(headers, "session-id")
                .or_else(|| header(headers, "session_id"))
                .and_then(|id| found(id, "session-id"))
        })
        .or_else(|| from_body("/prompt_cache_key").and_then(|id| found(id, "prompt_cache_key")))
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

    #[test]
    fn precedence_and_forms() {
        let req = TestRequest::default()
            .insert_header(("x-claude-code-session-id", "cc-1"))
            .insert_header(("x-session-id", "other"))
            .to_http_request();
        assert_eq!(extract(req.headers(), None, "r").id, "cc-1");

        let empty = TestRequest::default().to_http_request();
        let body =
            json!({"metadata": {"user_id": "{\"device_id\":\"d\",\"session_id\":\"s-json\"}"}});
        let s = extract(empty.headers(), Some(&body), "r");
        assert_eq!(
            (s.id.as_str(), s.source.as_str()),
            ("s-json", "metadata.user_id")
        );

        let body = json!({"metadata": {"user_id": "user_abc_account__session_s-legacy"}});
        assert_eq!(extract(empty.headers(), Some(&body), "r").id, "s-legacy");

        let codex = TestRequest::default()
            .insert_header(("session_id", "codex-1"))
            .to_http_request();
        assert_eq!(extract(codex.headers(), None, "r").id, "codex-1");

        let s = extract(empty.headers(), Some(&json!({"model": "x"})), "req-9");
        assert_eq!((s.id.as_str(), s.source.as_str()), ("req-9", "generated"));
    }
}
