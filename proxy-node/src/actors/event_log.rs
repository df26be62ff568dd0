//! The logging actor: takes one event per request without ever blocking the request path
//! (`try_send`; a full queue drops the event and counts it), batches them and hands each batch
//! to the configured `EventSink`, one batch at a time.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use llm_proxy_core::event::RequestEvent;
use tokio::sync::oneshot;

use crate::events::EventSink;
use crate::metrics::Metrics;

/// Events per sink write at most.
const BATCH_MAX: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(200);

pub struct EventLog {
    sink: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    capacity: usize,
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
            buffer: Vec::new(),
            writing: false,
            waiters: Vec::new(),
            stopping: false,
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
            if !act.writing && !act.buffer.is_empty() {
                act.write(ctx);
            }
        });
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
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
pub struct Record(pub Box<RequestEvent>);

impl Handler<Record> for EventLog {
    type Result = ();

    fn handle(&mut self, msg: Record, ctx: &mut Self::Context) {
        self.push(*msg.0, ctx);
    }
}

/// Writes everything queued so far; answers when it is durable (or dropped).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for EventLog {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
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
    metrics: Arc<Metrics>,
}

impl EventLogHandle {
    pub fn start(log: EventLog) -> Self {
        let metrics = Arc::clone(&log.metrics);
        let capacity = log.capacity;
        let addr = EventLog::create(move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            log
        });
        Self {
            addr: Some(addr),
            metrics,
        }
    }

    /// Events switched off.
    pub fn disabled(metrics: Arc<Metrics>) -> Self {
        Self {
            addr: None,
            metrics,
        }
    }

    pub fn record(&self, event: RequestEvent) {
        if let Some(addr) = &self.addr {
            if addr.try_send(Record(Box::new(event))).is_err() {
                self.metrics.events_dropped("queue_full", 1);
            }
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
}
