//! The proxy's logging actor hands its batches to the in-process dispatcher (`llm-proxy up`):
//! the same sink code the dispatcher role runs, behind one bounded queue and one bounded disk
//! spill per sink.

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
    /// Hands the batch to every sink: queued, or spilled to disk when a sink's queue is full
    /// (waits for that write, never for a sink). Only a full spill drops, counted per sink in
    /// `llm_proxy_dispatcher_events_dropped_total` and logged by the dispatcher.
    async fn write_batch(&self, events: Vec<RequestEvent>) -> Result<BatchOutcome, SinkError> {
        self.sender.send_batch(events).await;
        // Per-sink drops are the dispatcher's to count: the batch still reached the other sinks,
        // so none of it is lost to all of them.
        Ok(BatchOutcome::default())
    }

    fn name(&self) -> &'static str {
        "dispatcher"
    }
}
