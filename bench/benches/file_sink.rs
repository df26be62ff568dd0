//! The file sink on a real filesystem: batches of 200 calls, each with and without a session
//! of its own (`cargo bench -p llm-proxy-bench --bench file_sink`). Calls without a session
//! (most API traffic) get a file each in the per-session layout, so this is mostly the cost of
//! creating and syncing files; results depend on the filesystem under `$TMPDIR`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dispatcher_node::sink::FileSink;
use dispatcher_node::{SharedEvent, Sink};
use llm_proxy_core::event::{RequestEvent, GENERATED_SESSION};
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_testkit::fake_sinks::sample_event;

const BATCH: usize = 200;

fn single_call() -> RequestEvent {
    let mut event = sample_event();
    event.session.id = event.request_id.clone();
    event.session.source = GENERATED_SESSION.into();
    event
}

fn batch(sessions: usize) -> Vec<SharedEvent> {
    (0..BATCH)
        .map(|i| {
            let mut event = if sessions == 0 {
                single_call()
            } else {
                sample_event()
            };
            if sessions > 0 {
                event.session.id = format!("session-{}", i % sessions);
            }
            Arc::new(event)
        })
        .collect()
}

fn file_sink(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("file_sink");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for (name, layout, sessions) in [
        (
            "session layout, 200 calls without a session",
            FileLayout::Session,
            0,
        ),
        (
            "session layout, 200 calls of 8 sessions",
            FileLayout::Session,
            8,
        ),
        ("daily layout, 200 calls", FileLayout::Daily, 8),
    ] {
        let sink =
            FileSink::new(dir.path().join(name.replace([' ', ','], "_")), layout, 64).unwrap();
        group.bench_function(name, |b| {
            b.iter_batched(
                || batch(sessions),
                |events| runtime.block_on(sink.deliver(&events)).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, file_sink);
criterion_main!(benches);
