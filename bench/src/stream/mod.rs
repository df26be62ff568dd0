//! The streaming client: many concurrent SSE requests, each timed event by event.

mod conn;
mod options;
mod report;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use conn::StreamTiming;
pub use options::Options;
pub use report::Report;

/// Runs `options.streams` streams, at most `options.concurrency` at once, the first
/// `concurrency` started evenly over `ramp`. Never takes longer than `options.timeout`.
pub async fn run(options: Options) -> Report {
    let target = Rc::new(conn::Target::new(&options));
    let open = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let deadline = started + options.timeout;
    let local = tokio::task::LocalSet::new();
    let results = local
        .run_until(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(options.concurrency));
            let ramp_step = ramp_step(options.ramp, options.concurrency);
            for i in 0..options.streams {
                if i > 0 && i < options.concurrency && !ramp_step.is_zero() {
                    tokio::time::sleep(ramp_step).await;
                }
                let Ok(permit) = semaphore.clone().acquire_owned().await else {
                    break;
                };
                if Instant::now() >= deadline {
                    break;
                }
                let (target, open, peak, tx) =
                    (target.clone(), open.clone(), peak.clone(), tx.clone());
                tokio::task::spawn_local(async move {
                    let opened = Cell::new(false);
                    let on_open = || {
                        opened.set(true);
                        open.set(open.get() + 1);
                        peak.set(peak.get().max(open.get()));
                    };
                    let result =
                        tokio::time::timeout_at(deadline.into(), conn::one(&target, on_open))
                            .await
                            .unwrap_or_else(|_| Err("timed out (bench deadline)".to_owned()));
                    if opened.get() {
                        open.set(open.get().saturating_sub(1));
                    }
                    let _ = tx.send(result);
                    drop(permit);
                });
            }
            drop(tx);
            let mut results = Vec::with_capacity(options.streams);
            while let Some(result) = rx.recv().await {
                results.push(result);
            }
            results
        })
        .await;
    Report::from_results(
        &results,
        peak.get(),
        started.elapsed(),
        options.expect_events,
    )
}

fn ramp_step(ramp: Duration, concurrency: usize) -> Duration {
    if concurrency <= 1 {
        return Duration::ZERO;
    }
    ramp / u32::try_from(concurrency).unwrap_or(u32::MAX)
}
