//! The sessions pages: coding-agent sessions as the file sink recorded them.
//!
//! The source is the file sink's per-session JSONL (`sinks.file.layout = "session"`) under its
//! directory, the one `llm-proxy up` writes by default. A separate admin node sees sessions
//! only when that directory is shared with the dispatchers that write it (a volume mounted on
//! both); otherwise the pages say where they looked.

pub mod list;
mod reader;
pub mod show;
mod transcript;

use maud::{html, Markup};

use reader::SessionFiles;

/// Why the pages may show nothing, when they can tell.
fn unavailable(files: &SessionFiles) -> Markup {
    html! {
        @if !files.per_session {
            div class="flash flash-error" {
                "The file sink writes daily files (sinks.file.layout = \"daily\"); sessions need the per-session layout."
            }
        } @else if !files.exists() {
            div class="flash flash-error" {
                "No session files at " code { (files.dir.display()) } ". Sessions are read from the file sink's per-session files: "
                "enable the file sink (llm-proxy up does by default), or share its directory with this admin node."
            }
        }
    }
}

/// Percent-encodes a path segment or query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes the escapes actix leaves in a path segment (`%2F`, `%25`, `%2B`).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_round_trip_through_a_link() {
        for id in ["4d1c2b7e-93a5-4f0e-8b62-1a9d3c5e7f20", "a/b c%d+é", "%zz"] {
            assert_eq!(decode(&encode(id)), id);
        }
        assert_eq!(decode("a%2Fb"), "a/b");
    }
}
