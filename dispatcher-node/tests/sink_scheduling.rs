//! Embedded mode: the sink threads, and the blocking threads their I/O runs on, are
//! `SCHED_IDLE` by default (they yield every core to the request workers) and keep the
//! normal class when told to, or when their spec keeps its priority (the usage ledger).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;

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

async fn policies_under(
    scheduling: SinkScheduling,
    keeping_priority: bool,
) -> (ThreadSchedulePolicy, ThreadSchedulePolicy) {
    let dir = tempfile::tempdir().unwrap();
    let config = InProcessConfig {
        capacity: 16,
        batch_size: 8,
        policy: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            max_deliveries: 3,
        },
        dlq_dir: dir.path().join("dlq"),
        spill_dir: dir.path().join("sink-spill"),
        spill_max_bytes: 1 << 20,
        scheduling,
    };
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
