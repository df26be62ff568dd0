//! Embedded mode: the sink threads, and the blocking threads their I/O runs on, are
//! `SCHED_IDLE` by default (they yield every core to the request workers) and keep the
//! normal class when told to, or when their spec keeps its priority (the usage ledger). A
//! lowered sink far behind (its spill an eighth full) is raised until it has caught up.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::eventually;
use dispatcher_node::delivery::RetryPolicy;
use dispatcher_node::{
    InProcessConfig, InProcessDispatcher, Metrics, SharedEvent, Sink, SinkError, SinkSpec,
};
use llm_proxy_platform::settings::SinkScheduling;
use llm_proxy_testkit::fake_sinks::sample_event;
use thread_priority::unix::{
    thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
};

/// The policy of the thread `deliver` runs on and of the blocking thread it writes from.
type Seen = Arc<Mutex<Vec<(ThreadSchedulePolicy, ThreadSchedulePolicy)>>>;

struct PolicyProbe {
    seen: Seen,
}

/// Records the policies of each delivery and its size; holds deliveries while `closed`.
struct GatedProbe {
    seen: Arc<Mutex<Vec<(ThreadSchedulePolicy, ThreadSchedulePolicy, usize)>>>,
    closed: Arc<AtomicBool>,
}

#[async_trait(?Send)]
impl Sink for GatedProbe {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, batch: &[SharedEvent]) -> Result<(), SinkError> {
        while self.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let own = thread_schedule_policy().unwrap();
        let blocking = tokio::task::spawn_blocking(|| thread_schedule_policy().unwrap())
            .await
            .unwrap();
        self.seen.lock().unwrap().push((own, blocking, batch.len()));
        Ok(())
    }
}

#[async_trait(?Send)]
impl Sink for PolicyProbe {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, _batch: &[SharedEvent]) -> Result<(), SinkError> {
        let own = thread_schedule_policy().unwrap();
        let blocking = tokio::task::spawn_blocking(|| thread_schedule_policy().unwrap())
            .await
            .unwrap();
        self.seen.lock().unwrap().push((own, blocking));
        Ok(())
    }
}

fn config(dir: &std::path::Path, scheduling: SinkScheduling) -> InProcessConfig {
    InProcessConfig {
        capacity: 4,
        batch_size: 8,
        policy: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            max_deliveries: 3,
        },
        dlq_dir: dir.join("dlq"),
        spill_dir: dir.join("sink-spill"),
        spill_max_bytes: 4 << 20,
        scheduling,
    }
}

async fn policies_under(
    scheduling: SinkScheduling,
    keeping_priority: bool,
) -> (ThreadSchedulePolicy, ThreadSchedulePolicy) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), scheduling);
    let seen: Seen = Arc::default();
    let sink_seen = Arc::clone(&seen);
    let mut spec = SinkSpec::new("file", move || {
        Ok(Box::new(PolicyProbe { seen: sink_seen }) as Box<dyn Sink>)
    });
    if keeping_priority {
        spec = spec.keeping_priority();
    }
    let dispatcher = InProcessDispatcher::start(vec![spec], config, &Metrics::new());
    assert_eq!(
        dispatcher.sender().send_batch(vec![sample_event()]).await,
        0
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            !seen.lock().unwrap().is_empty()
        })
        .await,
        "the sink never got the event"
    );
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let first = seen.lock().unwrap()[0];
    first
}

#[actix_rt::test]
async fn sink_threads_are_idle_class_by_default() {
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    assert_eq!(
        policies_under(SinkScheduling::default(), false).await,
        (idle, idle)
    );
}

#[actix_rt::test]
async fn normal_scheduling_leaves_the_sink_threads_alone() {
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    assert_eq!(
        policies_under(SinkScheduling::Normal, false).await,
        (other, other)
    );
    // The test's own thread was never touched.
    assert_eq!(thread_schedule_policy().unwrap(), other);
}

#[actix_rt::test]
async fn a_sink_keeping_its_priority_is_not_lowered() {
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    assert_eq!(
        policies_under(SinkScheduling::Idle, true).await,
        (other, other)
    );
}

#[test]
fn the_usage_ledger_keeps_its_priority_and_the_file_sink_does_not() {
    let settings = Arc::new(llm_proxy_platform::Settings::default());
    let spec = |name| dispatcher_node::sink::sink_spec(&settings, name).unwrap();
    assert!(spec("usage").keeps_priority);
    assert!(!spec("file").keeps_priority);
}

#[actix_rt::test]
async fn a_lowered_sink_far_behind_is_raised_until_it_has_caught_up() {
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(AtomicBool::new(true));
    let probe = (Arc::clone(&seen), Arc::clone(&closed));
    let spec = SinkSpec::new("file", move || {
        Ok(Box::new(GatedProbe {
            seen: probe.0,
            closed: probe.1,
        }) as Box<dyn Sink>)
    });
    let dispatcher = InProcessDispatcher::start(
        vec![spec],
        config(dir.path(), SinkScheduling::Idle),
        &Metrics::new(),
    );
    // The sink is held: all but a queue's worth goes to the spill, well past an eighth of 4 MiB.
    let behind = 2_000;
    for _ in 0..behind / 100 {
        let batch = (0..100).map(|_| sample_event()).collect();
        assert_eq!(dispatcher.sender().send_batch(batch).await, 0);
    }
    closed.store(false, Ordering::SeqCst);
    let delivered = |seen: &Arc<Mutex<Vec<(_, _, usize)>>>| {
        seen.lock().unwrap().iter().map(|d| d.2).sum::<usize>()
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            delivered(&seen) == behind
        })
        .await,
        "delivered {} of {behind}",
        delivered(&seen)
    );
    // Caught up: the next event is delivered at idle priority again.
    assert_eq!(
        dispatcher.sender().send_batch(vec![sample_event()]).await,
        0
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            delivered(&seen) == behind + 1
        })
        .await
    );
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(
        (seen[0].0, seen[0].1),
        (idle, idle),
        "before it fell behind"
    );
    assert!(
        seen.iter().any(|d| (d.0, d.1) == (other, other)),
        "never raised while behind"
    );
    let last = seen[seen.len() - 1];
    assert_eq!(
        (last.0, last.1),
        (idle, idle),
        "not lowered after catching up"
    );
}
