//! The file sink: JSONL, per session (prime-radiant layout) or one file per day; fsync per
//! batch; open files kept in a small LRU cache (no handle leak), except the one-shot files of
//! calls without a session; ids written recently are not written again (see [`RecentIds`]).

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
            let file = open_creating_dirs(OpenOptions::new().create(true).append(true), path)?;
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

/// Opens `path`, creating its directories only when they are missing (the usual case has
/// them, and asking costs two system calls per file).
fn open_creating_dirs(options: &OpenOptions, path: &Path) -> std::io::Result<File> {
    match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            options.open(path)
        }
        opened => opened,
    }
}

/// The file of a call without a session (its own session, named after its request id): new
/// in all but the rare case of a redelivery, and never written again, so it is not kept open.
fn open_one_shot(path: &Path) -> std::io::Result<(File, bool)> {
    match open_creating_dirs(OpenOptions::new().write(true).create_new(true), path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new().append(true).open(path)?;
            let empty = file.metadata()?.len() == 0;
            Ok((file, empty))
        }
        Err(e) => Err(e),
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
        // Write every file first, then fsync them together (see `sync_all`).
        let mut written: Vec<(File, Vec<&RequestEvent>)> = Vec::new();
        for (target, batch) in group_by_file(&fresh, self.layout) {
            let path = match self.layout {
                FileLayout::Session => session_file(&self.dir, batch[0]),
                FileLayout::Daily => daily_file(&self.dir, batch[0]),
            };
            let io = |e: std::io::Error| io_error(&path, e);
            let encode = |e: serde_json::Error| SinkError::permanent(format!("cannot encode: {e}"));
            // A cached handle is duplicated: the copy is written and synced, the cache keeps its own.
            let (mut file, empty) = if target.is_one_shot() {
                open_one_shot(&path).map_err(io)?
            } else {
                let (cached, empty) = state.handles.get(&path).map_err(io)?;
                (cached.try_clone().map_err(io)?, empty)
            };
            let lines = encode_lines(self.layout, &batch, empty).map_err(encode)?;
            file.write_all(&lines).map_err(io)?;
            written.push((file, batch));
        }
        let (files, batches): (Vec<File>, Vec<Vec<&RequestEvent>>) = written.into_iter().unzip();
        match sync_all(files) {
            Ok(()) => {
                for event in batches.iter().flatten() {
                    state.recent.remember(event.id);
                }
                Ok(())
            }
            Err(e) => Err(SinkError::retryable(format!(
                "cannot sync the files written in {}: {e}",
                self.dir.display()
            ))),
        }
    }
}

/// The lines of one file's events; `empty`: the session file is new, so it starts with
/// `session_start`.
fn encode_lines(
    layout: FileLayout,
    batch: &[&RequestEvent],
    empty: bool,
) -> serde_json::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.len() * 2048);
    match layout {
        FileLayout::Session => {
            if empty {
                if let Some(first) = batch.first() {
                    write_session_start(&mut buf, first)?;
                }
            }
            for event in batch {
                write_session_lines(&mut buf, event)?;
            }
        }
        FileLayout::Daily => {
            for event in batch {
                serde_json::to_writer(&mut buf, event)?;
                buf.push(b'\n');
            }
        }
    }
    Ok(buf)
}

fn io_error(path: &Path, e: std::io::Error) -> SinkError {
    SinkError::retryable(format!("cannot write {}: {e}", path.display()))
}

/// fsyncs of one batch running at once at most.
const SYNC_THREADS: usize = 16;

/// Makes the files of one batch durable: `fdatasync` of every file, several at a time on the
/// runtime's blocking pool (its threads are kept and reused: a thread per fsync would be
/// created and torn down per batch), so one journal commit can cover many of them. One after
/// another when there is no runtime.
fn sync_all(files: Vec<File>) -> std::io::Result<()> {
    let runtime = match tokio::runtime::Handle::try_current() {
        Ok(runtime) if files.len() > 1 => runtime,
        _ => return files.iter().try_for_each(File::sync_data),
    };
    let per_task = files.len().div_ceil(SYNC_THREADS);
    let tasks = files.len().div_ceil(per_task);
    let (done, results) = std::sync::mpsc::channel();
    let mut files = files.into_iter().peekable();
    while files.peek().is_some() {
        let chunk: Vec<File> = files.by_ref().take(per_task).collect();
        let done = done.clone();
        runtime.spawn_blocking(move || {
            let _ = done.send(chunk.iter().try_for_each(File::sync_data));
        });
    }
    drop(done);
    let mut finished = 0;
    for result in results {
        result?;
        finished += 1;
    }
    if finished < tasks {
        return Err(std::io::Error::other("an fsync task did not finish"));
    }
    Ok(())
}

/// Which file an event goes to, without building its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target<'a> {
    Daily(NaiveDate),
    /// Upstream, day, session (or request id), and whether it is a request id.
    Session(&'a str, NaiveDate, &'a str, bool),
}

impl Target<'_> {
    /// A call without a session of its own: its file is named after its request id.
    fn is_one_shot(&self) -> bool {
        matches!(self, Target::Session(_, _, _, true))
    }
}

fn target(event: &RequestEvent, layout: FileLayout) -> Target<'_> {
    let day = event.occurred_at.date_naive();
    match layout {
        FileLayout::Daily => Target::Daily(day),
        FileLayout::Session => {
            let one_shot = event.session.is_single_call();
            let session = if one_shot {
                &event.request_id
            } else {
                &event.session.id
            };
            Target::Session(&event.upstream, day, session, one_shot)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use llm_proxy_core::event::GENERATED_SESSION;
    use llm_proxy_testkit::fake_sinks::sample_event;

    use super::*;

    fn single_call() -> RequestEvent {
        let mut event = sample_event();
        event.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
        event.session.id = event.request_id.clone();
        event.session.source = GENERATED_SESSION.into();
        event
    }

    fn kinds(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
            .collect()
    }

    fn open_handles(sink: &FileSink) -> usize {
        sink.state.lock().unwrap().handles.open.len()
    }

    #[tokio::test]
    async fn calls_without_a_session_get_their_own_file_and_no_cached_handle() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path(), FileLayout::Session, 2).unwrap();
        let session = sample_event();
        let calls: Vec<RequestEvent> = (0..5).map(|_| single_call()).collect();
        let mut batch: Vec<SharedEvent> = calls.iter().cloned().map(Arc::new).collect();
        batch.insert(2, Arc::new(session.clone()));
        sink.deliver(&batch).await.unwrap();

        for call in &calls {
            let kinds = kinds(&session_file(dir.path(), call));
            assert_eq!(
                kinds,
                [r#""session_start""#, r#""request""#, r#""response""#]
            );
        }
        assert_eq!(kinds(&session_file(dir.path(), &session)).len(), 3);
        // Only the real session's file stays open: five single calls did not push it out.
        assert_eq!(open_handles(&sink), 1);
    }

    #[tokio::test]
    async fn a_single_call_delivered_again_is_appended_without_a_second_session_start() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path(), FileLayout::Session, 4).unwrap();
        let first = single_call();
        let mut again = first.clone();
        again.id = uuid::Uuid::now_v7();
        sink.deliver(&[Arc::new(first.clone())]).await.unwrap();
        sink.deliver(&[Arc::new(again), Arc::new(single_call())])
            .await
            .unwrap();
        let kinds = kinds(&session_file(dir.path(), &first));
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        assert_eq!(
            kinds.iter().filter(|k| k.contains("session_start")).count(),
            1
        );
    }

    #[tokio::test]
    async fn a_deleted_day_directory_is_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path(), FileLayout::Session, 4).unwrap();
        let call = single_call();
        sink.deliver(&[Arc::new(call.clone())]).await.unwrap();
        let day = session_file(dir.path(), &call)
            .parent()
            .unwrap()
            .to_path_buf();
        std::fs::remove_dir_all(&day).unwrap();
        let next = single_call();
        sink.deliver(&[Arc::new(next.clone())]).await.unwrap();
        assert_eq!(kinds(&session_file(dir.path(), &next)).len(), 3);
    }
}
