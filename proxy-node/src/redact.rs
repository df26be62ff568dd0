//! Redaction for everything that leaves the request path as a record (DESIGN §8): credential
//! headers are masked whole, and key-shaped strings (`sk-…`, `sk-ant-…`, `wt_…`, bearer values)
//! are masked wherever they appear in headers or bodies.

use std::borrow::Cow;

use actix_web::http::header::HeaderMap;
use llm_proxy_core::event::{BodyRecord, RecordedBody};
use serde_json::{Map, Value};

pub const MASK: &str = "[redacted]";

const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
];

/// Prefixes whose following run of key characters is a secret; matched case-insensitively.
const KEY_PREFIXES: &[&str] = &["sk-", "wt_", "bearer "];
/// Shorter runs are not keys (and masking them would eat ordinary words).
const MIN_SECRET_LEN: usize = 8;

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Masks key-shaped substrings and, when given, every occurrence of `secret` itself.
pub fn redact_text<'a>(text: &'a str, secret: Option<&str>) -> Cow<'a, str> {
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    if let Some(secret) = secret.filter(|s| s.len() >= MIN_SECRET_LEN) {
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, MASK));
        }
    }
    match mask_key_shapes(&out) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

fn mask_key_shapes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Every prefix starts with s, w or b (any case): most bytes are ruled out here.
        let candidate = matches!(bytes[i] | 0x20, b's' | b'w' | b'b');
        let boundary = candidate && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        let prefix = boundary
            .then(|| {
                KEY_PREFIXES
                    .iter()
                    .find(|p| starts_with_ignore_case(&bytes[i..], p.as_bytes()))
            })
            .flatten();
        if let Some(prefix) = prefix {
            let start = i + prefix.len();
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| is_key_char(**b))
                    .count();
            if end - start >= MIN_SECRET_LEN {
                let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                buf.push_str(&text[copied..start]);
                buf.push_str(MASK);
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.map(|mut buf| {
        buf.push_str(&text[copied..]);
        buf
    })
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Headers as an event records them: names lower-case, credentials masked, values redacted.
pub fn headers(map: &HeaderMap, secret: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in map {
        let name = name.as_str().to_ascii_lowercase();
        let value = if SENSITIVE_HEADERS.contains(&name.as_str()) {
            MASK.to_owned()
        } else {
            match value.to_str() {
                Ok(v) => redact_text(v, secret).into_owned(),
                Err(_) => "[binary]".to_owned(),
            }
        };
        match out.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name, Value::String(value));
            }
        }
    }
    out
}

/// A capped, redacted body: JSON when it is complete and parses, else text.
pub fn body(
    bytes: &[u8],
    total_len: usize,
    cap: usize,
    secret: Option<&str>,
) -> (RecordedBody, bool) {
    if total_len == 0 {
        return (RecordedBody::default(), false);
    }
    let cut = bytes.len().min(cap);
    let truncated = total_len > cut;
    let text = match std::str::from_utf8(&bytes[..cut]) {
        Ok(text) => Cow::Borrowed(text),
        // A multi-byte character cut by the cap.
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
        Err(_) => {
            return (
                RecordedBody::string(&format!("[binary body: {total_len} bytes]")),
                truncated,
            )
        }
    };
    if !truncated {
        if let Some(json) = json_text(&text, None, secret) {
            return (json, false);
        }
    }
    (RecordedBody::string(&redact_text(&text, secret)), truncated)
}

/// A complete JSON body that was parsed already, as its event records it (the same as
/// [`body`] gives, without parsing it again when it has to be walked).
pub fn parsed_body(bytes: &[u8], parsed: &Value, secret: Option<&str>) -> RecordedBody {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| json_text(text, Some(parsed), secret))
        .unwrap_or_else(|| RecordedBody::from_value(&json(parsed.clone(), secret)))
}

/// `text` as redacted JSON, `None` when it is not JSON. Masked in the text itself when no
/// string in it has an escape (each string's text is then its value, so the masks land where
/// they would in the parsed strings); else every string and key of the parsed body is masked.
fn json_text(text: &str, parsed: Option<&Value>, secret: Option<&str>) -> Option<RecordedBody> {
    let plain = !text.as_bytes().contains(&b'\\') && secret.is_none_or(|s| !s.contains('"'));
    if plain {
        return RecordedBody::from_json_text(&redact_text(text, secret));
    }
    let value = match parsed {
        Some(value) => value.clone(),
        None => serde_json::from_str(text).ok()?,
    };
    Some(RecordedBody::from_value(&json(value, secret)))
}

/// A body that was parsed already, every string and key redacted in place.
fn json(mut value: Value, secret: Option<&str>) -> Value {
    redact_in_place(&mut value, secret);
    value
}

fn redact_in_place(value: &mut Value, secret: Option<&str>) {
    match value {
        Value::String(text) => {
            // `Owned` means something was masked.
            if let Cow::Owned(masked) = redact_text(text, secret) {
                *text = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_in_place(v, secret)),
        Value::Object(map) => {
            if map
                .keys()
                .any(|k| matches!(redact_text(k, secret), Cow::Owned(_)))
            {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (redact_text(&k, secret).into_owned(), v))
                    .collect();
            }
            map.values_mut().for_each(|v| redact_in_place(v, secret));
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

pub fn record(
    headers_map: &HeaderMap,
    bytes: &[u8],
    total_len: usize,
    cap: usize,
    secret: Option<&str>,
) -> BodyRecord {
    let (body, truncated) = body(bytes, total_len, cap, secret);
    BodyRecord {
        headers: headers(headers_map, secret),
        body,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn masks_key_shapes() {
        let text =
            "key sk-proj-abcdefghijkl and sk-ant-api03-XYZxyz123456, token wt_AAAABBBBCCCCDDDD \
                    Authorization: Bearer eyJhbGciOi.payload.sig end";
        let out = redact_text(text, None);
        assert!(!out.contains("abcdefghijkl"), "{out}");
        assert!(!out.contains("XYZxyz123456"), "{out}");
        assert!(!out.contains("AAAABBBB"), "{out}");
        assert!(!out.contains("eyJhbGciOi"), "{out}");
        assert!(out.contains("sk-[redacted]"));
        assert!(out.contains("Bearer [redacted]"));
        assert!(out.ends_with(" end"));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "ask-me anything",
            "task-1",
            "sk-short",
            "a wt_ b",
            "plain",
            "é sk- ü",
        ] {
            assert_eq!(redact_text(text, None), text);
        }
    }

    #[test]
    fn masks_the_exact_secret_even_when_oddly_shaped() {
        let out = redact_text("x=weird!secret!value", Some("weird!secret!value"));
        assert_eq!(out, "x=[redacted]");
    }

    #[test]
    fn parsed_bodies_are_redacted_like_text_bodies() {
        let raw = br#"{"model":"m","messages":[{"role":"user","content":"key sk-abcdefghijklmnop, Bearer tok.abc.defghij"}],"wt_AAAABBBBCCCCDDDD":1,"n":2.5,"ok":true,"none":null}"#;
        let (from_text, _) = body(raw, raw.len(), 4096, Some("tok.abc.defghij"));
        let parsed: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(json(parsed, Some("tok.abc.defghij")), from_text.value());
    }

    /// Masks land where they land in the parsed strings whether the text is masked as it is
    /// (no escapes) or through a `Value` (escapes: `\nsk-…` is a key after a line break).
    #[test]
    fn raw_and_parsed_bodies_are_masked_alike() {
        let secret = Some("tok.abc.defghij");
        for raw in [
            r#"{"model":"m","messages":[{"role":"user","content":"key sk-abcdefghijklmnop, Bearer tok.abc.defghij"}],"wt_AAAABBBBCCCCDDDD":1}"#,
            r#"{"content":"line one\nsk-abcdefghijklmnop and \"wt_AAAABBBBCCCCDDDD\""}"#,
            r#"{"content":"\u0073k-abcdefghijklmnop","tab":"\tsk-abcdefghijklmnop"}"#,
            r#"{ "spaced" : [ "sk-abcdefghijklmnop" , 1 , true , null ] }"#,
            "{\"pretty\": {\n  \"key\": \"sk-abcdefghijklmnop\"\n}}",
            r#"["ask-me anything", "task-1", "sk-short"]"#,
        ] {
            let parsed: Value = serde_json::from_str(raw).unwrap();
            let expected = json(parsed.clone(), secret);
            let (recorded, truncated) = body(raw.as_bytes(), raw.len(), 4096, secret);
            assert!(!truncated);
            assert_eq!(recorded.value(), expected, "{raw}");
            assert_eq!(
                parsed_body(raw.as_bytes(), &parsed, secret).value(),
                expected
            );
            assert!(!recorded.as_str().contains('\n'), "{}", recorded.as_str());
            assert!(
                !recorded.as_str().contains("abcdefghijklmnop"),
                "{}",
                recorded.as_str()
            );
        }
    }

    #[test]
    fn a_json_body_is_recorded_as_sent() {
        let raw = br#"{"z":1,"a":{"b":2,"a":[1.50,"x"]}}"#;
        let (recorded, _) = body(raw, raw.len(), 4096, None);
        assert_eq!(recorded.as_str().as_bytes(), raw);
    }

    #[test]
    fn every_key_prefix_starts_with_a_letter_the_scan_looks_for() {
        for prefix in KEY_PREFIXES {
            assert!(
                matches!(prefix.as_bytes()[0] | 0x20, b's' | b'w' | b'b'),
                "{prefix}"
            );
        }
    }

    #[test]
    fn prefixes_match_in_any_case() {
        assert_eq!(redact_text("SK-ABCDEFGHIJKL", None), "SK-[redacted]");
        assert_eq!(
            redact_text("BEARER abcdefghijkl", None),
            "BEARER [redacted]"
        );
    }

    #[test]
    fn headers_mask_credentials_whole() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "Bearer wt_abcdefghijklmnop"))
            .insert_header(("x-api-key", "anything"))
            .insert_header(("x-note", "uses sk-abcdefghijklmn"))
            .insert_header(("content-type", "application/json"))
            .to_http_request();
        let h = headers(req.headers(), None);
        assert_eq!(h["authorization"], MASK);
        assert_eq!(h["x-api-key"], MASK);
        assert_eq!(h["x-note"], "uses sk-[redacted]");
        assert_eq!(h["content-type"], "application/json");
    }

    #[test]
    fn bodies_are_json_when_whole_and_text_when_cut() {
        let json = br#"{"messages":[{"content":"my key is sk-abcdefghijklmnop"}]}"#;
        let (body, truncated) = body(json, json.len(), 1024, None);
        assert!(!truncated);
        assert_eq!(
            body.value()["messages"][0]["content"],
            "my key is sk-[redacted]"
        );

        let (cut, truncated) = super::body(json, json.len(), 10, None);
        assert!(truncated);
        assert_eq!(cut, RecordedBody::string("{\"messages"));

        let utf8 = "ééé".as_bytes();
        let (cut, truncated) = super::body(utf8, utf8.len(), 3, None);
        assert!(truncated);
        assert_eq!(cut, RecordedBody::string("é"));

        let (bin, _) = super::body(&[0xff, 0xfe, 0x00, 0x81], 4, 100, None);
        assert_eq!(bin, RecordedBody::string("[binary body: 4 bytes]"));
    }
}
