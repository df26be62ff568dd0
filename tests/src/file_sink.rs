//! What the dispatcher's file sink wrote: the JSONL session files under its directory
//! (`<dir>/<upstream>/<YYYY-MM-DD>/<session>.jsonl`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::deliveries::Record;

/// One session file: its path relative to the sink's directory and its complete lines.
#[derive(Debug, Clone)]
pub struct SessionFile {
    pub relative: PathBuf,
    pub lines: Vec<Value>,
}

/// Every `*.jsonl` file under `dir` (none when `dir` does not exist yet).
pub fn session_files(dir: &Path) -> Vec<SessionFile> {
    let mut paths = Vec::new();
    collect_jsonl(dir, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| SessionFile {
            relative: path.strip_prefix(dir).unwrap_or(&path).to_path_buf(),
            lines: read_lines(&path),
        })
        .collect()
}

/// One record per `response` line, paired with the `request` line of the same event before it.
pub fn records(dir: &Path) -> Vec<Record> {
    let mut records = Vec::new();
    for file in session_files(dir) {
        for (i, line) in file.lines.iter().enumerate() {
            if line["type"] != "response" {
                continue;
            }
            let event_id = text(&line["_meta"]["event_id"]);
            let request = file.lines[..i]
                .iter()
                .rev()
                .find(|l| l["type"] == "request" && text(&l["_meta"]["event_id"]) == event_id)
                .cloned()
                .unwrap_or(Value::Null);
            records.push(Record {
                request_id: text(&line["_meta"]["request_id"]),
                event_id,
                payload: json!({"request": request, "response": line}),
            });
        }
    }
    records
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_jsonl(&path, out);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
}

/// Complete lines only: the dispatcher may be appending the last one right now.
fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{} holds a line that is not JSON ({e}): {line}",
                    path.display()
                )
            })
        })
        .collect()
}
