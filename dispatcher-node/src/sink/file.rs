//! The file sink: JSONL, per session (prime-radiant layout) or one file per day; fsync per
//! batch; open files kept in a small LRU cache (no handle leak); ids written recently are not
//! written again (see [`RecentIds`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_platform::Settings;

use super::file_layout::{daily_file, session_file};
use super::file_lines::{write_session_lines, write_session_start};
use super::recent::RecentIds;
use super::{SharedEvent, Sink, SinkError};
use crate::error::DispatcherError;

/// Event ids remembered: a few batches' worth.
const RECENT_CAPACITY: usize = 20_000;

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
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    handles: HandleCache,
    recent: RecentIds,
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
            state: Arc::new(Mutex::new(State {
                handles: HandleCache {
                    capacity: max_open_files.max(1),
                    tick: 0,
                    open: HashMap::new(),
                },
                recent: RecentIds::new(RECENT_CAPACITY),
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

    fn write_blocking(&self, events: &[SharedEvent]) -> Result<(), SinkError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SinkError::retryable("file sink state poisoned"))?;
        let state = &mut *state;
        let fresh: Vec<&RequestEvent> = events
            .iter()
            .map(|e| &**e)
            .filter(|e| !state.recent.contains(&e.id))
            .collect();
        let skipped = events.len() - fresh.len();
        if skipped > 0 {
            tracing::info!(
                skipped,
                "file sink: events written recently were not written again"
            );
        }
        // Write every file first, then fsync them together: one journal commit can cover
        // many files (the per-session layout often has one file per call).
        let mut written: Vec<(File, PathBuf, Vec<&RequestEvent>)> = Vec::new();
        for (_, batch) in group_by_file(&fresh, self.layout) {
            let path = match self.layout {
                FileLayout::Session => session_file(&self.dir, batch[0]),
                FileLayout::Daily => daily_file(&self.dir, batch[0]),
            };
            let io = |e: std::io::Error| io_error(&path, e);
            let encode = |e: serde_json::Error| SinkError::permanent(format!("cannot encode: {e}"));
            let (file, empty) = state.handles.get(&path).map_err(io)?;
            let mut buf = Vec::with_capacity(batch.len() * 2048);
            match self.layout {
                FileLayout::Session => {
                    if empty {
                        write_session_start(&mut buf, batch[0]).map_err(encode)?;
                    }
                    for event in &batch {
                        write_session_lines(&mut buf, event).map_err(encode)?;
                    }
                }
                FileLayout::Daily => {
                    for event in &batch {
                        serde_json::to_writer(&mut buf, event).map_err(encode)?;
                        buf.push(b'\n');
                    }
                }
            }
            file.write_all(&buf).map_err(io)?;
            let file = file.try_clone().map_err(io)?;
            written.push((file, path, batch));
        }
        let mut failure = None;
        let (files, written): (Vec<File>, Vec<(PathBuf, Vec<&RequestEvent>)>) = written
            .into_iter()
            .map(|(file, path, batch)| (file, (path, batch)))
            .unzip();
        for ((path, batch), synced) in written.iter().zip(sync_all(files)) {
            match synced {
                Ok(()) => batch.iter().for_each(|e| state.recent.remember(e.id)),
                Err(e) => failure = Some(io_error(path, e)),
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> SinkError {
    SinkError::retryable(format!("cannot write {}: {e}", path.display()))
}

/// fsyncs of one batch running at once at most.
const SYNC_THREADS: usize = 16;

/// `sync_data` of every file, several at a time on the runtime's blocking pool (its threads
/// are kept and reused: a thread per fsync would be created and torn down per batch); the
/// results in order. One after another when there is no runtime.
fn sync_all(files: Vec<File>) -> Vec<std::io::Result<()>> {
    let runtime = tokio::runtime::Handle::try_current();
    let runtime = match runtime {
        Ok(runtime) if files.len() > 1 => runtime,
        _ => return files.iter().map(File::sync_data).collect(),
    };
    let count = files.len();
    let per_task = count.div_ceil(SYNC_THREADS);
    let (done, results) = std::sync::mpsc::channel();
    let mut files = files.into_iter().enumerate().peekable();
    while files.peek().is_some() {
        let chunk: Vec<(usize, File)> = files.by_ref().take(per_task).collect();
        let done = done.clone();
        runtime.spawn_blocking(move || {
            for (i, file) in chunk {
                let _ = done.send((i, file.sync_data()));
            }
        });
    }
    drop(done);
    let mut out: Vec<std::io::Result<()>> = (0..count)
        .map(|_| Err(std::io::Error::other("fsync task did not finish")))
        .collect();
    for (i, result) in results {
        out[i] = result;
    }
    out
}

/// Which file an event goes to, without building its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target<'a> {
    Daily(NaiveDate),
    Session(&'a str, NaiveDate, &'a str),
}

fn target(event: &RequestEvent, layout: FileLayout) -> Target<'_> {
    let day = event.occurred_at.date_naive();
    match layout {
        FileLayout::Daily => Target::Daily(day),
        FileLayout::Session => {
            let session = if event.session.id.is_empty() {
                &event.request_id
            } else {
                &event.session.id
            };
            Target::Session(&event.upstream, day, session)
        }
    }
}

/// The events of a batch per file, files in order of first appearance, events in batch order.
fn group_by_file<'a>(
    events: &[&'a RequestEvent],
    layout: FileLayout,
) -> Vec<(Target<'a>, Vec<&'a RequestEvent>)> {
    let mut groups: Vec<(Target<'a>, Vec<&'a RequestEvent>)> = Vec::new();
    let mut index: HashMap<Target<'a>, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    for &event in events {
        let key = target(event, layout);
        let slot = match last {
            Some(i) if groups[i].0 == key => i,
            _ => *index.entry(key).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            }),
        };
        groups[slot].1.push(event);
        last = Some(slot);
    }
    groups
}

#[async_trait(?Send)]
impl Sink for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let sink = self.clone();
        let events = batch.to_vec();
        tokio::task::spawn_blocking(move || sink.write_blocking(&events))
            .await
            .map_err(|e| SinkError::retryable(format!("file writer task failed: {e}")))?
    }
}
