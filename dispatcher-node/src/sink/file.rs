//! The file sink: JSONL, per session (prime-radiant layout) or one file per day; fsync per
//! batch; open files kept in a small LRU cache (no handle leak).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_platform::Settings;

use super::file_layout::{daily_file, session_file, session_lines, session_start_line};
use super::{Sink, SinkError};
use crate::error::DispatcherError;

#[derive(Debug)]
struct HandleCache {
    capacity: usize,
    tick: u64,
    open: HashMap<PathBuf, (File, u64)>,
}

impl HandleCache {
    /// The open file for `path` and whether it was empty before this batch.
    fn get(&mut self, path: &Path) -> std::io::Result<(&mut File, bool)> {
        self.tick += 1;
        let tick = self.tick;
        if !self.open.contains_key(path) {
            if self.open.len() >= self.capacity {
                if let Some(oldest) = self
                    .open
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(p, _)| p.clone())
                {
                    self.open.remove(&oldest);
                }
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            self.open.insert(path.to_path_buf(), (file, tick));
        }
        match self.open.get_mut(path) {
            Some((file, used)) => {
                *used = tick;
                let empty = file.metadata()?.len() == 0;
                Ok((file, empty))
            }
            None => Err(std::io::Error::other("file handle vanished from the cache")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileSink {
    dir: PathBuf,
    layout: FileLayout,
    cache: Arc<Mutex<HandleCache>>,
}

impl FileSink {
    /// Creates the directory now, so a bad path stops start-up instead of losing events later.
    pub fn new(
        dir: impl Into<PathBuf>,
        layout: FileLayout,
        max_open_files: usize,
    ) -> Result<Self, DispatcherError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| DispatcherError::io(format!("cannot create {}", dir.display()), e))?;
        Ok(Self {
            dir,
            layout,
            cache: Arc::new(Mutex::new(HandleCache {
                capacity: max_open_files.max(1),
                tick: 0,
                open: HashMap::new(),
            })),
        })
    }

    /// `sinks.file.dir`, else `events.file_dir`; relative paths are under `data_dir`.
    pub fn dir_from_settings(settings: &Settings) -> PathBuf {
        match &settings.sinks.file.dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => settings.data_dir.join(dir),
            None => settings.events_dir(),
        }
    }

    pub fn from_settings(settings: &Settings) -> Result<Self, DispatcherError> {
        Self::new(
            Self::dir_from_settings(settings),
            settings.sinks.file.layout,
            settings.sinks.file.max_open_files,
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_blocking(&self, events: &[RequestEvent]) -> Result<(), SinkError> {
        // Group lines per file, keeping event order within each file.
        let mut order: Vec<PathBuf> = Vec::new();
        let mut per_file: HashMap<PathBuf, Vec<&RequestEvent>> = HashMap::new();
        for event in events {
            let path = match self.layout {
                FileLayout::Session => session_file(&self.dir, event),
                FileLayout::Daily => daily_file(&self.dir, event),
            };
            per_file
                .entry(path.clone())
                .or_insert_with(|| {
                    order.push(path);
                    Vec::new()
                })
                .push(event);
        }
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| SinkError::retryable("file handle cache poisoned"))?;
        for path in order {
            let io = |e: std::io::Error| {
                SinkError::retryable(format!("cannot write {}: {e}", path.display()))
            };
            let Some(batch) = per_file.get(&path) else {
                continue;
            };
            let (file, empty) = cache.get(&path).map_err(io)?;
            let mut buf = Vec::with_capacity(batch.len() * 1024);
            let encode = |e: serde_json::Error| SinkError::permanent(format!("cannot encode: {e}"));
            for (i, event) in batch.iter().enumerate() {
                match self.layout {
                    FileLayout::Session => {
                        if empty && i == 0 {
                            serde_json::to_writer(&mut buf, &session_start_line(event))
                                .map_err(encode)?;
                            buf.push(b'\n');
                        }
                        for line in session_lines(event) {
                            serde_json::to_writer(&mut buf, &line).map_err(encode)?;
                            buf.push(b'\n');
                        }
                    }
                    FileLayout::Daily => {
                        serde_json::to_writer(&mut buf, event).map_err(encode)?;
                        buf.push(b'\n');
                    }
                }
            }
            file.write_all(&buf).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl Sink for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, batch: &[RequestEvent]) -> Result<(), SinkError> {
        let sink = self.clone();
        let events = batch.to_vec();
        tokio::task::spawn_blocking(move || sink.write_blocking(&events))
            .await
            .map_err(|e| SinkError::retryable(format!("file writer task failed: {e}")))?
    }
}
