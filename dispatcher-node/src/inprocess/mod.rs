//! Embedded mode (`llm-proxy up`): the same sinks behind bounded in-process queues, one per
//! sink, so a slow sink never holds up another. What a full queue cannot take goes to the
//! sink's bounded spill on disk and reaches the sink later, in order; only a full spill drops
//! (counted). Events that can never be delivered are appended to `<data_dir>/dlq/<sink>.jsonl`.

mod dlq;
mod lane;
mod queue_loop;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::settings::SinkScheduling;
use llm_proxy_platform::Settings;
use tokio::sync::{mpsc, watch};

pub use dlq::append_dlq;
use lane::{Lane, SpillState};

use crate::delivery::RetryPolicy;
use crate::metrics::Metrics;
use crate::sink::{SharedEvent, SinkSpec};
use crate::sink_thread::{self, SinkThread};

/// Cheap to clone and `Send`: what the logging actor holds. Never waits for a sink.
#[derive(Clone)]
pub struct EventSender {
    lanes: Arc<Vec<Lane>>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSender")
            .field("sinks", &self.sinks())
            .finish()
    }
}

impl EventSender {
    /// Hands the events to every sink (one shared copy of each): queued, or spilled when a
    /// queue is full. Returns how many sink deliveries were dropped because a spill was full
    /// too, each counted in `events_dropped`. Waits only for spill writes.
    pub async fn send_batch(&self, events: Vec<RequestEvent>) -> usize {
        let events: Vec<SharedEvent> = events.into_iter().map(Arc::new).collect();
        let mut dropped = 0;
        for lane in self.lanes.iter() {
            dropped += lane.offer(&events).await;
        }
        dropped
    }

    pub async fn send(&self, event: RequestEvent) -> usize {
        self.send_batch(vec![event]).await
    }

    pub fn sinks(&self) -> Vec<&'static str> {
        self.lanes.iter().map(|l| l.name).collect()
    }
}

/// The in-process dispatcher. Start it inside an actix `System`.
pub struct InProcessDispatcher {
    sender: EventSender,
    stop: watch::Sender<bool>,
    abandon: watch::Sender<bool>,
    running: Vec<SinkThread>,
}

impl std::fmt::Debug for InProcessDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessDispatcher")
            .field("sinks", &self.sender.sinks())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct InProcessConfig {
    pub capacity: usize,
    pub batch_size: usize,
    pub policy: RetryPolicy,
    pub dlq_dir: PathBuf,
    /// Each sink spills to `<spill_dir>/<sink>/`.
    pub spill_dir: PathBuf,
    /// Cap of each sink's spill.
    pub spill_max_bytes: u64,
    /// Scheduling class of the sink threads.
    pub scheduling: SinkScheduling,
}

impl InProcessConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            capacity: settings.dispatcher.queue_capacity,
            batch_size: settings.dispatcher.batch_size,
            policy: RetryPolicy::from_settings(&settings.dispatcher),
            dlq_dir: settings.data_dir.join("dlq"),
            spill_dir: settings.data_dir.join("sink-spill"),
            spill_max_bytes: settings.events.spill_max_bytes,
            scheduling: settings.dispatcher.sink_scheduling,
        }
    }
}

impl InProcessDispatcher {
    /// Starts every enabled sink from settings.
    pub fn from_settings(
        settings: &Arc<Settings>,
        metrics: &Metrics,
    ) -> Result<Self, crate::DispatcherError> {
        let specs = crate::sink::enabled_sinks(settings)?;
        Ok(Self::start(
            specs,
            InProcessConfig::from_settings(settings),
            metrics,
        ))
    }

    /// Starts one arbiter per sink. Opens each sink's spill first (blocking IO, at start-up):
    /// what an earlier run left there is delivered before anything new.
    pub fn start(specs: Vec<SinkSpec>, config: InProcessConfig, metrics: &Metrics) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let (abandon, abandon_rx) = watch::channel(false);
        let mut lanes = Vec::new();
        let mut running = Vec::new();
        for spec in specs {
            let name = spec.name;
            let (tx, rx) = mpsc::channel(config.capacity.max(1));
            let spill =
                SpillState::open(&config.spill_dir.join(name), config.spill_max_bytes, name);
            let lane = Lane::new(name, tx, spill, metrics.sink(name));
            lanes.push(lane.clone());
            let config = config.clone();
            let signals = queue_loop::Signals {
                stop: stop_rx.clone(),
                abandon: abandon_rx.clone(),
            };
            let scheduling = config.scheduling;
            running.push(sink_thread::spawn(
                spec,
                scheduling,
                move |sink, class| async move {
                    queue_loop::run(&*sink, rx, &lane, &config, signals, &class).await;
                },
            ));
        }
        Self {
            sender: EventSender {
                lanes: Arc::new(lanes),
            },
            stop,
            abandon,
            running,
        }
    }

    pub fn sender(&self) -> EventSender {
        self.sender.clone()
    }

    /// Delivers what is queued (what fails goes back to the spill), then stops. A sink still
    /// busy at the deadline is given up: its batch in flight and its queue go to its spill.
    /// What is spilled stays on disk for the next start.
    pub async fn shutdown(self, timeout: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut late = Vec::new();
        for mut running in self.running {
            if tokio::time::timeout_at(deadline, &mut running.done)
                .await
                .is_ok()
            {
                running.arbiter.stop();
            } else {
                late.push(running);
            }
        }
        if late.is_empty() {
            return;
        }
        let _ = self.abandon.send(true);
        for mut running in late {
            tracing::warn!(
                sink = running.name,
                "in-process sink did not drain in time; its events go to its spill"
            );
            if tokio::time::timeout(SPILL_BACK_GRACE, &mut running.done)
                .await
                .is_err()
            {
                tracing::error!(
                    sink = running.name,
                    "in-process sink could not spill its queue in time; queued events lost"
                );
            }
            running.arbiter.stop();
        }
    }
}

/// How long a given-up sink has to write its queue to its spill (local disk).
const SPILL_BACK_GRACE: Duration = Duration::from_secs(5);
