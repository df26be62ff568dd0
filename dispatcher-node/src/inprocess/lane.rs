//! One sink's way in: a bounded in-process queue and, behind it, a bounded on-disk spill.
//!
//! While the spill holds anything, new events go to the spill too (never past it into the
//! queue), so the sink sees them in order: first what was queued, then the spill, oldest
//! first. Only the sink's own loop empties the spill, and it switches back to the queue under
//! the same lock, once the spill is empty. Events are dropped (and counted) only when the spill
//! is full as well.
//!
//! The sink's own thread may run at idle priority (`dispatcher.sink_scheduling`), so it never
//! holds the lock itself: its spill reads and commits run on `io`, the runtime that started the
//! lane, at the request workers' priority. Otherwise a starved sink thread holding the lock
//! would stall `offer`, and with it the proxy's logging actor, whose queue would then overflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use llm_proxy_platform::spill::{Appended, ChunkEnd, Spill};
use tokio::runtime::Handle;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Mutex, Notify, OwnedMutexGuard};

use crate::metrics::SinkMetrics;
use crate::sink::SharedEvent;

/// The spill and whether events currently go to it instead of the queue.
#[derive(Debug)]
pub struct SpillState {
    dir: PathBuf,
    /// `None` when the spill could not be opened: overflow is dropped.
    spill: Option<Spill>,
    spilling: bool,
}

impl SpillState {
    /// Opens `<dir>`, keeping what an earlier run left (replayed first).
    pub fn open(dir: &Path, max_bytes: u64, sink: &str) -> Self {
        let spill = match Spill::open(dir, max_bytes) {
            Ok(spill) => Some(spill),
            Err(e) => {
                tracing::error!(sink, dir = %dir.display(), error = %e, "cannot open the sink's spill; a full queue will drop events");
                None
            }
        };
        let spilling = spill.as_ref().is_some_and(|s| !s.is_empty());
        if spilling {
            tracing::info!(sink, dir = %dir.display(), "events spilled by an earlier run will be delivered first");
        }
        Self {
            dir: dir.to_path_buf(),
            spill,
            spilling,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.spill.as_ref().map_or(0, Spill::disk_bytes)
    }
}

/// A chunk of spilled lines and where it ends.
pub type Chunk = (Vec<Vec<u8>>, ChunkEnd);

#[derive(Clone)]
pub struct Lane {
    pub name: &'static str,
    tx: mpsc::Sender<SharedEvent>,
    state: Arc<Mutex<SpillState>>,
    /// Signalled after events went to the spill.
    pub wake: Arc<Notify>,
    pub metrics: SinkMetrics,
    /// Where the sink's spill work runs; `None`: on the sink's own thread.
    io: Option<Handle>,
}

impl Lane {
    /// Call it on the runtime that should do the sink's spill work (see the module's comment).
    pub fn new(
        name: &'static str,
        tx: mpsc::Sender<SharedEvent>,
        state: SpillState,
        metrics: SinkMetrics,
    ) -> Self {
        metrics.spill_bytes.set(state.bytes() as i64);
        Self {
            name,
            tx,
            state: Arc::new(Mutex::new(state)),
            wake: Arc::new(Notify::new()),
            metrics,
            io: Handle::try_current().ok(),
        }
    }

    /// The spill's size on disk, as last written or read.
    pub fn spill_bytes(&self) -> u64 {
        u64::try_from(self.metrics.spill_bytes.get()).unwrap_or(0)
    }

    /// Runs `f` over the locked state on a blocking thread of `io`: the lock is taken and
    /// released there, never on the sink's thread.
    async fn with_state<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SpillState) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let state = Arc::clone(&self.state);
        let work = async move { blocking(state.lock_owned().await, f).await };
        match &self.io {
            Some(io) => io
                .spawn(work)
                .await
                .map_err(|e| std::io::Error::other(format!("spill task failed: {e}")))?,
            None => work.await,
        }
    }

    /// Queues `events`, or spills what does not fit; returns how many were dropped (the spill
    /// full or unwritable). Waits only for the spill's disk writes, never for the sink.
    pub async fn offer(&self, events: &[SharedEvent]) -> usize {
        let state = Arc::clone(&self.state).lock_owned().await;
        let mut from = 0;
        if !state.spilling {
            while from < events.len() {
                match self.tx.try_send(SharedEvent::clone(&events[from])) {
                    Ok(()) => from += 1,
                    Err(TrySendError::Full(_) | TrySendError::Closed(_)) => break,
                }
            }
            if from == events.len() {
                return 0;
            }
            tracing::warn!(
                sink = self.name,
                "in-process sink queue is full: events go to its spill until it catches up"
            );
        }
        let overflow = events[from..].to_vec();
        let count = overflow.len();
        let name = self.name;
        let (bytes, appended) = match blocking(state, move |state| append(state, &overflow)).await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(sink = name, error = %e, dropped = count, "cannot write the sink's spill; events dropped");
                (
                    None,
                    Appended {
                        written: 0,
                        dropped: count,
                    },
                )
            }
        };
        if let Some(bytes) = bytes {
            self.metrics.spill_bytes.set(bytes as i64);
        }
        self.metrics.spilled.inc_by(appended.written as u64);
        if appended.dropped > 0 {
            self.metrics.dropped.inc_by(appended.dropped as u64);
            tracing::warn!(
                sink = name,
                dropped = appended.dropped,
                "in-process sink queue and spill are full; events dropped"
            );
        }
        if appended.written > 0 {
            self.wake.notify_one();
        }
        appended.dropped
    }

    /// The oldest spilled lines, up to `max_lines`; `None` when nothing is spilled (events go
    /// to the queue again from now on) or when the queue still holds events: those were queued
    /// before the spill began, so they go first. Checked under the lock `offer` takes, so an
    /// event cannot slip into the queue between the check and the read.
    pub async fn read_spill(&self, max_lines: usize) -> std::io::Result<Option<Chunk>> {
        let tx = self.tx.clone();
        self.with_state(move |state| {
            // Every permit back means nothing is queued.
            if !state.spilling || tx.capacity() < tx.max_capacity() {
                return Ok(None);
            }
            let Some(spill) = state.spill.as_mut() else {
                state.spilling = false;
                return Ok(None);
            };
            let (lines, end) = spill.read_chunk(max_lines, CHUNK_BYTES)?;
            if lines.is_empty() {
                state.spilling = !spill.is_empty();
                return Ok(None);
            }
            Ok(Some((lines, end)))
        })
        .await
    }

    /// Marks a chunk delivered. When that empties the spill, events go to the queue again.
    pub async fn commit(&self, end: ChunkEnd, replayed: usize) -> std::io::Result<()> {
        let name = self.name;
        let bytes = self
            .with_state(move |state| {
                let Some(spill) = state.spill.as_mut() else {
                    return Ok(0);
                };
                spill.commit(end)?;
                if spill.is_empty() {
                    state.spilling = false;
                    tracing::info!(sink = name, dir = %state.dir.display(), "sink caught up: its spill is empty");
                }
                Ok(spill.disk_bytes())
            })
            .await?;
        self.metrics.spill_bytes.set(bytes as i64);
        self.metrics.replayed.inc_by(replayed as u64);
        Ok(())
    }

    /// Puts events back in the spill (the dispatcher stopped before they were delivered).
    pub async fn spill_back(&self, events: Vec<SharedEvent>) -> usize {
        let count = events.len();
        match self.with_state(move |state| append(state, &events)).await {
            Ok((bytes, appended)) => {
                if let Some(bytes) = bytes {
                    self.metrics.spill_bytes.set(bytes as i64);
                }
                self.metrics.spilled.inc_by(appended.written as u64);
                self.metrics.dropped.inc_by(appended.dropped as u64);
                appended.dropped
            }
            Err(e) => {
                tracing::error!(sink = self.name, error = %e, dropped = count, "cannot write the sink's spill; events dropped");
                self.metrics.dropped.inc_by(count as u64);
                count
            }
        }
    }
}

/// Bytes read from the spill at a time at most.
const CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Runs `f` over the locked state on a blocking thread.
async fn blocking<T: Send + 'static>(
    mut state: OwnedMutexGuard<SpillState>,
    f: impl FnOnce(&mut SpillState) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(move || f(&mut state))
        .await
        .map_err(|e| std::io::Error::other(format!("spill task failed: {e}")))?
}

/// Encodes and appends, in order; from now on events go to the spill if any were written.
/// Returns the spill's size on disk and what was kept.
fn append(
    state: &mut SpillState,
    events: &[SharedEvent],
) -> std::io::Result<(Option<u64>, Appended)> {
    let Some(spill) = state.spill.as_mut() else {
        return Ok((
            None,
            Appended {
                written: 0,
                dropped: events.len(),
            },
        ));
    };
    let mut lines = Vec::with_capacity(events.len());
    for event in events {
        lines.push(serde_json::to_string(&**event).map_err(std::io::Error::other)?);
    }
    let appended = spill.append(&lines);
    let empty = spill.is_empty();
    let bytes = spill.disk_bytes();
    state.spilling = !empty;
    Ok((Some(bytes), appended?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn the_sinks_spill_work_runs_on_the_runtime_that_started_the_lane() {
        let dir = tempfile::tempdir().unwrap();
        let spill_dir = dir.path().to_path_buf();
        let (lane_tx, lane_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // The starter keeps driving its runtime, as `llm-proxy up`'s main thread does.
        let starter = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .thread_name("lane-starter")
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (tx, _rx) = mpsc::channel(4);
                let state = SpillState::open(&spill_dir, 1 << 20, "file");
                lane_tx
                    .send(Lane::new("file", tx, state, Metrics::new().sink("file")))
                    .unwrap();
                let _ = stop_rx.await;
            });
        });
        let lane = lane_rx.recv().unwrap();
        // The sink's thread: another runtime, as an idle-priority sink thread would be.
        let sink_thread = tokio::runtime::Builder::new_current_thread()
            .thread_name("sink")
            .enable_all()
            .build()
            .unwrap();
        let ran_on = sink_thread
            .block_on(lane.with_state(|_| Ok(std::thread::current().name().map(str::to_owned))))
            .unwrap();
        assert_eq!(ran_on.as_deref(), Some("lane-starter"));
        stop_tx.send(()).unwrap();
        starter.join().unwrap();
    }
}
