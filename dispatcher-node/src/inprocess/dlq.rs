//! Embedded mode's dead-letter file: events a sink can never take.

use std::io::Write;
use std::path::Path;

use chrono::Utc;
use llm_proxy_core::event::RequestEvent;

/// Appends `{"event", "error", "failed_at"}` lines to `<dir>/<sink>.jsonl`, fsynced.
pub fn append_dlq(dir: &Path, sink: &str, dead: &[(&RequestEvent, &str)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut buf = Vec::new();
    let now = Utc::now().to_rfc3339();
    for (event, error) in dead {
        serde_json::to_writer(
            &mut buf,
            &serde_json::json!({"event": event, "error": error, "failed_at": now}),
        )?;
        buf.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{sink}.jsonl")))?;
    file.write_all(&buf)?;
    file.sync_data()
}
