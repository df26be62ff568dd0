//! The logging actor: takes one event per request without ever blocking the request path
//! (`try_send`; a full queue drops the event and counts it), batches them and hands each batch
//! to the configured `EventSink`, one batch at a time.
//!
//! The request path puts each event in its own thread's slot and tells the actor to collect
//! once per [`HAND_OVER`] events; the actor also collects on its timer and on `Flush`. So the
//! actor's thread wakes once per batch instead of once per request, and one thread's events
//! keep their order. The slots belong to the handle, not to the threads: a worker that stops
//! leaves its events there for the next collection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::prelude::*;
use llm_proxy_core::event::RequestEvent;
use thread_local::ThreadLocal;
use tokio::sync::oneshot;

use crate::events::EventSink;
use crate::metrics::Metrics;

/// Events per sink write at most.
const BATCH_MAX: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Events a request thread keeps before handing them to the actor.
const HAND_OVER: usize = 64;

/// Events recorded on each thread and not yet handed over.
type Slots = ThreadLocal<Mutex<Vec<RequestEvent>>>;

pub struct EventLog {
    sink: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    capacity: usize,
    slots: Arc<Slots>,
    buffer: Vec<RequestEvent>,
    writing: bool,
    waiters: Vec<oneshot::Sender<()>>,
    stopping: bool,
}

impl EventLog {
    pub fn new(sink: Arc<dyn EventSink>, metrics: Arc<Metrics>, capacity: usize) -> Self {
        Self {
            sink,
            metrics,
            capacity: capacity.max(1),
            slots: Arc::new(ThreadLocal::new()),
            buffer: Vec::new(),
            writing: false,
            waiters: Vec::new(),
            stopping: false,
        }
    }

    /// Takes what the request threads hold.
    fn collect(&mut self, ctx: &mut Context<Self>) {
        let slots = Arc::clone(&self.slots);
        for slot in slots.iter() {
            let events = std::mem::take(&mut *slot.lock().unwrap_or_else(PoisonError::into_inner));
            for event in events {
                self.push(event, ctx);
            }
        }
    }

    fn push(&mut self, event: RequestEvent, ctx: &mut Context<Self>) {
        if self.buffer.len() >= self.capacity {
            self.metrics.events_dropped("queue_full", 1);
            return;
        }
        self.buffer.push(event);
        if self.buffer.len() >= BATCH_MAX {
            self.write(ctx);
        }
    }

    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        if self.buffer.is_empty() {
            self.written(ctx);
            return;
        }
        let take = self.buffer.len().min(BATCH_MAX);
        let batch: Vec<RequestEvent> = self.buffer.drain(..take).collect();
        let count = batch.len() as u64;
        self.writing = true;
        let sink = Arc::clone(&self.sink);
        let fut = async move { sink.write_batch(batch).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            match result {
                Ok(outcome) => {
                    let dropped = (outcome.dropped as u64).min(count);
                    act.metrics.events_written.inc_by(count - dropped);
                    if dropped > 0 {
                        act.metrics.events_dropped("spill_full", dropped);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, sink = act.sink.name(), count, "dropped a batch of request events");
                    act.metrics.events_dropped("sink_error", count);
                }
            }
            if !act.buffer.is_empty() && (!act.waiters.is_empty() || act.stopping) {
                act.write(ctx);
            } else if act.buffer.is_empty() {
                act.written(ctx);
            }
        }));
    }

    fn written(&mut self, ctx: &mut Context<Self>) {
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(());
        }
        if self.stopping {
            ctx.stop();
        }
    }
}

impl Actor for EventLog {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(FLUSH_EVERY, |act, ctx| {
            act.collect(ctx);
            if !act.writing && !act.buffer.is_empty() {
                act.write(ctx);
            }
        });
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        self.collect(ctx);
        if self.buffer.is_empty() && !self.writing {
            return Running::Stop;
        }
        if !self.stopping {
            self.stopping = true;
            self.write(ctx);
        }
        Running::Continue
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Collect;

impl Handler<Collect> for EventLog {
    type Result = ();

    fn handle(&mut self, _: Collect, ctx: &mut Self::Context) {
        self.collect(ctx);
    }
}

/// Writes everything queued so far; answers when it is durable (or dropped).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for EventLog {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
        self.collect(ctx);
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        self.write(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// The request path's view of the actor: never waits.
#[derive(Clone)]
pub struct EventLogHandle {
    addr: Option<Addr<EventLog>>,
    slots: Arc<Slots>,
    /// Events one thread's slot holds at most (the actor is not collecting: it is stuck).
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl EventLogHandle {
    pub fn start(log: EventLog) -> Self {
        let metrics = Arc::clone(&log.metrics);
        let slots = Arc::clone(&log.slots);
        let capacity = log.capacity;
        // A `Collect` that does not fit is not needed: one already waits.
        let addr = EventLog::create(|ctx| {
            ctx.set_mailbox_capacity(4);
            log
        });
        Self {
            addr: Some(addr),
            slots,
            capacity,
            metrics,
        }
    }

    /// Events switched off.
    pub fn disabled(metrics: Arc<Metrics>) -> Self {
        Self {
            addr: None,
            slots: Arc::new(ThreadLocal::new()),
            capacity: 0,
            metrics,
        }
    }

    pub fn record(&self, event: RequestEvent) {
        let Some(addr) = &self.addr else {
            return;
        };
        let held = {
            let slot = self.slots.get_or_default();
            let mut held = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if held.len() >= self.capacity {
                drop(held);
                self.metrics.events_dropped("queue_full", 1);
                return;
            }
            held.push(event);
            held.len()
        };
        if held % HAND_OVER == 0 {
            let _ = addr.try_send(Collect);
        }
    }

    pub async fn flush(&self) {
        if let Some(addr) = &self.addr {
            let _ = addr.send(Flush).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::events::{Exchange, FileSink, Outcome};
    use llm_proxy_core::event::{BodyRecord, Termination};

    fn event(n: usize) -> RequestEvent {
        Exchange::new(format!("req-{n}"), Arc::from("node"), "POST", "/v1/x").into_event(
            Outcome {
                status: 200,
                termination: Termination::Eof,
                error_code: None,
                response: BodyRecord::default(),
                facts: Default::default(),
            },
            std::time::Instant::now(),
        )
    }

    #[actix_web::test]
    async fn events_reach_the_daily_file_and_overflow_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(FileSink::new(dir.path()).unwrap());
        let metrics = Arc::new(Metrics::new());
        let log = EventLogHandle::start(EventLog::new(sink, Arc::clone(&metrics), 1000));
        for n in 0..20 {
            log.record(event(n));
        }
        log.flush().await;
        let file = FileSink::file_for(dir.path(), chrono::Utc::now().date_naive());
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20);
        let first: RequestEvent = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first.request_id, "req-0");
        assert_eq!(metrics.events_written.get(), 20);
    }

    #[actix_web::test]
    async fn one_threads_events_keep_their_order_across_hand_overs() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(FileSink::new(dir.path()).unwrap());
        let metrics = Arc::new(Metrics::new());
        let log = EventLogHandle::start(EventLog::new(sink, Arc::clone(&metrics), 10_000));
        for n in 0..(HAND_OVER * 5 + 7) {
            log.record(event(n));
        }
        log.flush().await;
        let file = FileSink::file_for(dir.path(), chrono::Utc::now().date_naive());
        let ids: Vec<String> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<RequestEvent>(l).unwrap().request_id)
            .collect();
        let expected: Vec<String> = (0..(HAND_OVER * 5 + 7))
            .map(|n| format!("req-{n}"))
            .collect();
        assert_eq!(ids, expected);
    }

    /// Never finishes a write.
    struct Stuck;

    #[async_trait::async_trait]
    impl EventSink for Stuck {
        async fn write_batch(
            &self,
            _: Vec<RequestEvent>,
        ) -> Result<crate::events::BatchOutcome, crate::events::SinkError> {
            std::future::pending().await
        }

        fn name(&self) -> &'static str {
            "stuck"
        }
    }

    #[actix_web::test]
    async fn a_stuck_sink_bounds_what_is_held_and_counts_the_drops() {
        let metrics = Arc::new(Metrics::new());
        let log = EventLogHandle::start(EventLog::new(Arc::new(Stuck), Arc::clone(&metrics), 100));
        for n in 0..1_000 {
            log.record(event(n));
        }
        // The actor takes what it can hold (one batch in the stuck write, up to 100 queued);
        // the rest is dropped and counted, on the request path or in the actor.
        actix_rt::time::sleep(FLUSH_EVERY * 2).await;
        let text = metrics.encode();
        let dropped: u64 = text
            .lines()
            .filter(|l| l.starts_with("llm_proxy_events_dropped_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(dropped >= 1_000 - 100 - 100, "dropped {dropped}: {text}");
        assert!(dropped < 1_000, "some were kept: {dropped}");
    }
}
