//! Canonical JSON for lineage hashes: object keys sorted, `cache_control` dropped at every
//! level, no insignificant whitespace. Two messages that differ only in key order or in where
//! the client put its prompt-cache breakpoints (which agents move every turn) write the same
//! bytes.

use std::io::{self, Write};

use serde_json::Value;

/// Keys that say how to cache or bill a message, not what it says.
const IGNORED_KEYS: &[&str] = &["cache_control"];

pub fn write(value: &Value, out: &mut impl Write) -> io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|k| !IGNORED_KEYS.contains(&k.as_str()))
                .collect();
            keys.sort_unstable();
            out.write_all(b"{")?;
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                if let Some(v) = map.get(key) {
                    write(v, out)?;
                }
            }
            out.write_all(b"}")
        }
        Value::Array(items) => write_array(items.iter(), out),
        scalar => Ok(serde_json::to_writer(&mut *out, scalar)?),
    }
}

/// An array of the given items, each written canonically.
pub fn write_array<'a>(
    items: impl Iterator<Item = &'a Value>,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write(item, out)?;
    }
    out.write_all(b"]")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn text(v: &Value) -> String {
        let mut out = Vec::new();
        write(v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_are_sorted_and_cache_control_is_ignored() {
        let a = json!({"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]});
        let b = json!({"content": [{"text": "hi", "type": "text"}], "role": "user"});
        assert_eq!(text(&a), text(&b));
        assert_eq!(
            text(&b),
            r#"{"content":[{"text":"hi","type":"text"}],"role":"user"}"#
        );
    }

    #[test]
    fn content_differences_still_count() {
        assert_ne!(text(&json!({"text": "hi"})), text(&json!({"text": "hi "})));
        assert_ne!(text(&json!([1, 2])), text(&json!([2, 1])));
        assert_eq!(text(&json!("a\"b")), r#""a\"b""#);
    }
}
