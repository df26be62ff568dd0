//! A proxy node's event spill (`<data_dir>/spill/*.jsonl`): events it could not hand to Redis.

use std::path::Path;

use serde_json::Value;

/// `request_id` of every complete event line in the spill's segments (replayed lines
/// included until their segment is deleted).
pub fn request_ids(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut segments: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    segments.sort();
    let mut ids = Vec::new();
    for segment in segments {
        let text = std::fs::read_to_string(&segment).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            let event: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{} holds a line that is not JSON ({e})", segment.display())
            });
            if let Some(id) = event["request_id"].as_str() {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}
