//! The proxy's logging actor hands its batches to the in-process dispatcher (`llm-proxy up`):
//! the same sink code the dispatcher role runs, behind one bounded queue per sink.

use async_trait::async_trait;
use dispatcher_node::EventSender;
use llm_proxy_core::event::RequestEvent;
use proxy_node::events::BatchOutcome;
use proxy_node::{EventSink, SinkError};

#[derive(Debug, Clone)]
pub struct DispatcherBridge {
    sender: EventSender,
}

impl DispatcherBridge {
    pub fn new(sender: EventSender) -> Self {
        Self { sender }
    }
}

#[async_trait]
impl EventSink for DispatcherBridge {
    /// Queues the batch for every sink without waiting; a full sink queue drops and counts
    /// (`llm_proxy_dispatcher_events_dropped_total`), which never fails the batch for the others.
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        let count = events.len();
        let dropped = self.sender.send_batch(events);
        if dropped > 0 {
            tracing::warn!(
                count,
                dropped,
                "in-process sink queues are full; events dropped"
            );
        }
        // Per-sink queue drops are counted by the dispatcher's own metrics: the batch still
        // reached the other sinks, so none of it is lost to all of them.
        Ok(BatchOutcome::default())
    }

    fn name(&self) -> &'static str {
        "dispatcher"
    }
}
