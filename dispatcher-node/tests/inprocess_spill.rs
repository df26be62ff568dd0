//! Embedded mode under overload: a sink far slower than the events it is given. What its
//! queue cannot hold goes to its spill on disk and reaches it later, in order; only a full
//! spill drops, and every drop is counted.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::eventually;
use dispatcher_node::delivery::RetryPolicy;
use dispatcher_node::{
    InProcessConfig, InProcessDispatcher, Metrics, SharedEvent, Sink, SinkError, SinkSpec,
};
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::SinkScheduling;
use llm_proxy_platform::spill::Spill;
use llm_proxy_testkit::fake_sinks::sample_event;
use tokio::sync::watch;
use uuid::Uuid;

/// Records what it is given; waits while its gate is closed; fails every delivery when told.
#[derive(Clone)]
struct Gated {
    seen: Arc<Mutex<Vec<Uuid>>>,
    open: watch::Receiver<bool>,
    fail: bool,
}

#[async_trait(?Send)]
impl Sink for Gated {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        let mut open = self.open.clone();
        let _ = open.wait_for(|open| *open).await;
        if self.fail {
            return Err(SinkError::retryable("sink down"));
        }
        self.seen.lock().unwrap().extend(batch.iter().map(|e| e.id));
        Ok(())
    }
}

struct Harness {
    dispatcher: InProcessDispatcher,
    seen: Arc<Mutex<Vec<Uuid>>>,
    gate: watch::Sender<bool>,
    metrics: Metrics,
}

fn config(dir: &Path, capacity: usize, spill_max_bytes: u64) -> InProcessConfig {
    InProcessConfig {
        capacity,
        batch_size: 8,
        policy: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            max_deliveries: 1_000_000,
        },
        dlq_dir: dir.join("dlq"),
        spill_dir: dir.join("sink-spill"),
        spill_max_bytes,
        scheduling: SinkScheduling::Normal,
    }
}

fn start(config: InProcessConfig, open: bool, fail: bool) -> Harness {
    let (gate, open_rx) = watch::channel(open);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Gated {
        seen: Arc::clone(&seen),
        open: open_rx,
        fail,
    };
    let metrics = Metrics::new();
    let spec = SinkSpec::new("file", move || Ok(Box::new(sink) as Box<dyn Sink>));
    let dispatcher = InProcessDispatcher::start(vec![spec], config, &metrics);
    Harness {
        dispatcher,
        seen,
        gate,
        metrics,
    }
}

fn events(n: usize) -> Vec<RequestEvent> {
    (0..n).map(|_| sample_event()).collect()
}

fn ids(events: &[RequestEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

async fn send_in_batches(h: &Harness, events: &[RequestEvent]) -> usize {
    let sender = h.dispatcher.sender();
    let mut dropped = 0;
    for batch in events.chunks(50) {
        dropped += sender.send_batch(batch.to_vec()).await;
    }
    dropped
}

async fn wait_seen(h: &Harness, n: usize) -> bool {
    eventually(Duration::from_secs(30), || async {
        h.seen.lock().unwrap().len() >= n
    })
    .await
}

#[actix_web::test]
async fn a_slow_sink_gets_every_event_exactly_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config(dir.path(), 16, 64 * 1024 * 1024), false, false);
    let sent = events(1_000);
    assert_eq!(send_in_batches(&h, &sent).await, 0);
    let m = h.metrics.sink("file");
    assert!(
        m.spilled.get() >= 1_000 - 16 - 8,
        "most events went to the spill: {}",
        m.spilled.get()
    );
    assert!(m.spill_bytes.get() > 0);

    h.gate.send_replace(true);
    assert!(wait_seen(&h, sent.len()).await, "every event arrives");
    // Once the spill is empty, events go through the queue again.
    let more = events(100);
    assert_eq!(send_in_batches(&h, &more).await, 0);
    assert!(wait_seen(&h, sent.len() + more.len()).await);
    h.dispatcher.shutdown(Duration::from_secs(5)).await;

    let mut expected = ids(&sent);
    expected.extend(ids(&more));
    assert_eq!(*h.seen.lock().unwrap(), expected);
    assert_eq!(m.dropped.get(), 0);
    assert_eq!(m.replayed.get(), m.spilled.get());
    assert_eq!(m.delivered.get(), 1_100);
    assert_eq!(m.spill_bytes.get(), 0);
}

#[actix_web::test]
async fn a_full_spill_drops_and_counts_and_delivers_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let line = serde_json::to_string(&sample_event()).unwrap().len() as u64 + 1;
    let h = start(config(dir.path(), 4, line * 30), false, false);
    let sent = events(200);
    let dropped = send_in_batches(&h, &sent).await;
    let m = h.metrics.sink("file");
    assert!(dropped > 0, "the spill holds about 30 of 200");
    assert_eq!(m.dropped.get(), dropped as u64);

    h.gate.send_replace(true);
    let kept = sent.len() - dropped;
    assert!(wait_seen(&h, kept).await);
    h.dispatcher.shutdown(Duration::from_secs(5)).await;
    let seen = h.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), kept, "no duplicates");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), kept);
    assert!(seen.iter().all(|id| sent.iter().any(|e| e.id == *id)));
}

#[actix_web::test]
async fn a_spill_left_by_an_earlier_run_is_delivered_first() {
    let dir = tempfile::tempdir().unwrap();
    let left = events(40);
    {
        let mut spill = Spill::open(dir.path().join("sink-spill").join("file"), 1 << 20).unwrap();
        let lines: Vec<String> = left
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        spill.append(&lines).unwrap();
    }
    let h = start(config(dir.path(), 16, 1 << 20), false, false);
    let fresh = events(10);
    assert_eq!(send_in_batches(&h, &fresh).await, 0);
    h.gate.send_replace(true);
    assert!(wait_seen(&h, 50).await);
    h.dispatcher.shutdown(Duration::from_secs(5)).await;
    let mut expected = ids(&left);
    expected.extend(ids(&fresh));
    assert_eq!(*h.seen.lock().unwrap(), expected);
    let m = h.metrics.sink("file");
    assert_eq!(
        m.replayed.get(),
        50,
        "the fresh events queued behind the spill"
    );
    let spill = Spill::open(dir.path().join("sink-spill").join("file"), 1 << 20).unwrap();
    assert!(spill.is_empty());
}

/// A working sink started on the spill an earlier run left in `dir` gets each of `sent` once.
async fn next_start_delivers_each_once(dir: &Path, sent: &[RequestEvent], why: &str) {
    let up = start(config(dir, 16, 64 * 1024 * 1024), true, false);
    assert!(wait_seen(&up, sent.len()).await);
    up.dispatcher.shutdown(Duration::from_secs(5)).await;
    let mut seen = up.seen.lock().unwrap().clone();
    seen.sort();
    let mut expected = ids(sent);
    expected.sort();
    assert_eq!(seen, expected, "{why}");
}

#[actix_web::test]
async fn stopping_with_a_sink_down_keeps_every_event_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let down = start(config(dir.path(), 16, 64 * 1024 * 1024), true, true);
    let sent = events(300);
    assert_eq!(send_in_batches(&down, &sent).await, 0);
    down.dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(down.metrics.sink("file").dropped.get(), 0);
    assert!(down.seen.lock().unwrap().is_empty());

    next_start_delivers_each_once(dir.path(), &sent, "every event once, none lost").await;
}

#[actix_web::test]
async fn a_sink_hanging_past_the_shutdown_deadline_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hung = start(config(dir.path(), 16, 64 * 1024 * 1024), false, false);
    let sent = events(300);
    assert_eq!(send_in_batches(&hung, &sent).await, 0);
    // One batch is in the hung sink's hands and the queue is full when the deadline passes.
    hung.dispatcher.shutdown(Duration::from_millis(200)).await;
    assert!(hung.seen.lock().unwrap().is_empty());
    assert_eq!(hung.metrics.sink("file").dropped.get(), 0);

    next_start_delivers_each_once(
        dir.path(),
        &sent,
        "the batch in flight and the queue were spilled, once each",
    )
    .await;
}
