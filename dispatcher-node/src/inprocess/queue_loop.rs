//! The loop that feeds one sink in embedded mode: what is queued first, then (once the queue
//! is empty) what was spilled, oldest first; retries, then the dead-letter file for what the
//! sink can never take. Once shutdown gives up on a sink (`Signals::abandon`), the batch in
//! flight and everything still queued go back to the spill instead of to the sink.

use std::sync::Arc;

use llm_proxy_core::event::RequestEvent;
use tokio::sync::{mpsc, watch};

use super::dlq::append_dlq;
use super::lane::Lane;
use super::InProcessConfig;
use crate::delivery::Delivery;
use crate::sink::{SharedEvent, Sink};
use crate::sink_thread::SinkClass;

/// A lowered sink whose spill holds this fraction of its cap competes with the request workers
/// until the spill is empty: far enough behind that the gateway has been busy for a while (a
/// burst fits below it), early enough that it catches up before the spill fills and drops.
const RAISE_AT_SPILL_FRACTION: u64 = 8;

/// Shutdown's two steps: `stop` = deliver what is queued, then return; `abandon` = the
/// deadline passed, stop waiting for the sink.
pub(super) struct Signals {
    pub stop: watch::Receiver<bool>,
    pub abandon: watch::Receiver<bool>,
}

impl Signals {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn abandoned(&self) -> bool {
        *self.abandon.borrow()
    }
}

/// Resolves once `abandon` is set; never if its sender is gone without setting it.
async fn abandoned(abandon: &mut watch::Receiver<bool>) {
    loop {
        if *abandon.borrow_and_update() {
            return;
        }
        if abandon.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How a batch ended.
enum Settled {
    /// Delivered or dead-lettered, every event.
    Done,
    /// The dispatcher stopped first: these were not delivered.
    Stopped(Vec<SharedEvent>),
}

pub(super) async fn run(
    sink: &dyn Sink,
    mut rx: mpsc::Receiver<SharedEvent>,
    lane: &Lane,
    config: &InProcessConfig,
    mut signals: Signals,
    class: &SinkClass,
) {
    let batch_size = config.batch_size.max(1);
    let mut buf = Vec::with_capacity(batch_size);
    let raise_at = (config.spill_max_bytes / RAISE_AT_SPILL_FRACTION).max(1);
    loop {
        class.keep_up(lane.spill_bytes(), raise_at);
        while buf.len() < batch_size {
            match rx.try_recv() {
                Ok(event) => buf.push(event),
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            let events = std::mem::take(&mut buf);
            if let Settled::Stopped(left) = deliver(sink, events, lane, config, &mut signals).await
            {
                let lost = lane.spill_back(left).await;
                if lost > 0 {
                    tracing::error!(
                        sink = lane.name,
                        lost,
                        "stopped with undelivered events and a full spill; events lost"
                    );
                }
            }
            continue;
        }
        if signals.stopping() {
            // Queue flushed; what is spilled stays on disk for the next start.
            return;
        }
        match replay_chunk(sink, lane, config, &mut signals).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(sink = lane.name, error = %e, "cannot read the sink's spill; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(config.policy.base) => {},
                    _ = signals.stop.changed() => {},
                }
                continue;
            }
        }
        tokio::select! {
            n = rx.recv_many(&mut buf, batch_size) => if n == 0 { return },
            _ = lane.wake.notified() => {},
            _ = signals.stop.changed() => {},
        }
    }
}

/// Delivers the oldest spilled chunk; `false` when nothing is spilled or the queue is not
/// empty (its events are older than the spill's).
async fn replay_chunk(
    sink: &dyn Sink,
    lane: &Lane,
    config: &InProcessConfig,
    signals: &mut Signals,
) -> std::io::Result<bool> {
    let Some((lines, end)) = lane.read_spill(config.batch_size.max(1)).await? else {
        return Ok(false);
    };
    let mut events = Vec::with_capacity(lines.len());
    let mut unreadable = 0;
    for line in &lines {
        match serde_json::from_slice::<RequestEvent>(line) {
            Ok(event) => events.push(Arc::new(event)),
            Err(_) => unreadable += 1,
        }
    }
    if unreadable > 0 {
        lane.metrics.dropped.inc_by(unreadable as u64);
        tracing::error!(
            sink = lane.name,
            dropped = unreadable,
            "unreadable lines in the sink's spill were dropped"
        );
    }
    let count = events.len();
    match deliver(sink, events, lane, config, signals).await {
        // Left in the spill: delivered again (the delivered part too) on the next start.
        Settled::Stopped(_) => Ok(true),
        Settled::Done => {
            lane.commit(end, count).await?;
            Ok(true)
        }
    }
}

async fn deliver(
    sink: &dyn Sink,
    events: Vec<SharedEvent>,
    lane: &Lane,
    config: &InProcessConfig,
    signals: &mut Signals,
) -> Settled {
    if signals.abandoned() {
        return Settled::Stopped(events);
    }
    let n = events.len();
    let mut delivery = Delivery::new(events, vec![0; n]);
    loop {
        // A sink that hangs is given up at the shutdown deadline; what it may have taken of
        // this batch is spilled again too (at least once, never lost).
        let next = tokio::select! {
            next = delivery.attempt(sink, &config.policy, &lane.metrics) => Some(next),
            _ = abandoned(&mut signals.abandon) => None,
        };
        let wait = match next {
            Some(Some(wait)) => wait,
            Some(None) => break,
            None => return Settled::Stopped(undelivered(&delivery)),
        };
        if signals.stopping() {
            let left = undelivered(&delivery);
            dead_letter(sink, lane, config, &delivery);
            return Settled::Stopped(left);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = signals.stop.changed() => {},
        }
    }
    dead_letter(sink, lane, config, &delivery);
    Settled::Done
}

fn undelivered(delivery: &Delivery) -> Vec<SharedEvent> {
    delivery
        .pending()
        .iter()
        .map(|&i| SharedEvent::clone(&delivery.events[i]))
        .collect()
}

fn dead_letter(sink: &dyn Sink, lane: &Lane, config: &InProcessConfig, delivery: &Delivery) {
    if delivery.dead.is_empty() {
        return;
    }
    lane.metrics
        .dead_lettered
        .inc_by(delivery.dead.len() as u64);
    let lines: Vec<(&RequestEvent, &str)> = delivery
        .dead
        .iter()
        .map(|(i, r)| (&*delivery.events[*i], r.as_str()))
        .collect();
    if let Err(e) = append_dlq(&config.dlq_dir, sink.name(), &lines) {
        tracing::error!(sink = sink.name(), error = %e, lost = lines.len(), "cannot write the DLQ file; events lost");
    }
}
