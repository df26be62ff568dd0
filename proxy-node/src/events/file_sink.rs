//! Daily JSONL files `events-YYYY-MM-DD.jsonl` (UTC date of `occurred_at`), fsynced per batch.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::NaiveDate;
use llm_proxy_core::event::RequestEvent;

use super::{BatchOutcome, EventSink, SinkError};

#[derive(Debug, Clone)]
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    /// Creates the directory now, so a bad path stops start-up instead of losing events later.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SinkError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| SinkError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_for(dir: &Path, date: NaiveDate) -> PathBuf {
        dir.join(format!("events-{}.jsonl", date.format("%Y-%m-%d")))
    }
}

/// Appends each day's lines to its file and fsyncs it.
fn write_blocking(dir: &Path, events: &[RequestEvent]) -> Result<(), SinkError> {
    let mut by_day: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
    for event in events {
        let buf = by_day.entry(event.occurred_at.date_naive()).or_default();
        serde_json::to_writer(&mut *buf, event)?;
        buf.push(b'\n');
    }
    for (date, lines) in by_day {
        let path = FileSink::file_for(dir, date);
        let io = |source| SinkError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(&lines).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    Ok(())
}

#[async_trait]
impl EventSink for FileSink {
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_blocking(&dir, &events))
            .await
            .map_err(|e| SinkError::Task(e.to_string()))??;
        Ok(BatchOutcome::default())
    }

    fn name(&self) -> &'static str {
        "file"
    }
}
