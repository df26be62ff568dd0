//! Asking for usage upstream: a streamed OpenAI chat (or legacy completions) request without
//! `stream_options.include_usage` gets it, so the stream ends with a usage chunk.

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};

use llm_proxy_platform::ErrorFlavor;

/// Endpoints whose streams carry usage only on request.
fn takes_stream_options(path: &str) -> bool {
    path.ends_with("/chat/completions") || path.ends_with("/v1/completions")
}

/// Whether this request needs `include_usage` added.
pub fn needs_usage(flavor: ErrorFlavor, path: &str, json: Option<&Value>) -> bool {
    let Some(object) = json.and_then(Value::as_object) else {
        return false;
    };
    flavor == ErrorFlavor::OpenAi
        && takes_stream_options(path)
        && object.get("stream").and_then(Value::as_bool) == Some(true)
        && object
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            != Some(true)
}

const MEMBER: &[u8] = br#""stream_options":{"include_usage":true},"#;

/// The body with `include_usage` set. Without `stream_options` the member is spliced in after
/// the opening brace, so every other byte stays as the client sent it; otherwise the body is
/// re-encoded with the option set.
pub fn with_usage(body: &Bytes, json: &Value) -> Option<Bytes> {
    let object = json.as_object()?;
    if !object.contains_key("stream_options") {
        let open = body.iter().position(|b| !b.is_ascii_whitespace())?;
        if body[open] != b'{' || object.is_empty() {
            return None;
        }
        let mut out = BytesMut::with_capacity(body.len() + MEMBER.len());
        out.extend_from_slice(&body[..=open]);
        out.extend_from_slice(MEMBER);
        out.extend_from_slice(&body[open + 1..]);
        return Some(out.freeze());
    }
    let mut json = json.clone();
    let options = json.get_mut("stream_options")?;
    match options.as_object_mut() {
        Some(options) => {
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
        None => *options = json!({"include_usage": true}),
    }
    serde_json::to_vec(&json).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn only_streamed_openai_chat_without_usage_needs_it() {
        let flavor = ErrorFlavor::OpenAi;
        let path = "/v1/chat/completions";
        let v = |s: &str| parse(s.as_bytes());
        assert!(needs_usage(flavor, path, Some(&v(r#"{"stream":true}"#))));
        assert!(needs_usage(
            flavor,
            path,
            Some(&v(
                r#"{"stream":true,"stream_options":{"include_usage":false}}"#
            ))
        ));
        assert!(!needs_usage(
            flavor,
            path,
            Some(&v(
                r#"{"stream":true,"stream_options":{"include_usage":true}}"#
            ))
        ));
        assert!(!needs_usage(flavor, path, Some(&v(r#"{"stream":false}"#))));
        assert!(!needs_usage(
            flavor,
            "/v1/responses",
            Some(&v(r#"{"stream":true}"#))
        ));
        assert!(!needs_usage(
            ErrorFlavor::Anthropic,
            "/v1/messages",
            Some(&v(r#"{"stream":true}"#))
        ));
    }

    #[test]
    fn splices_the_member_and_keeps_the_rest_byte_for_byte() {
        let body = Bytes::from_static(b"  {\"model\":\"m\", \"stream\": true}");
        let out = with_usage(&body, &parse(&body)).unwrap();
        assert_eq!(
            &out[..],
            b"  {\"stream_options\":{\"include_usage\":true},\"model\":\"m\", \"stream\": true}"
        );
        assert_eq!(parse(&out)["stream_options"]["include_usage"], true);
    }

    #[test]
    fn existing_options_are_kept() {
        let body = Bytes::from_static(
            br#"{"stream":true,"stream_options":{"include_obfuscation":false}}"#,
        );
        let out = parse(&with_usage(&body, &parse(&body)).unwrap());
        assert_eq!(out["stream_options"]["include_usage"], true);
        assert_eq!(out["stream_options"]["include_obfuscation"], false);
    }
}
