//! Embedded mode (`llm-proxy up`): the same sinks behind bounded in-process queues, one per
//! sink, so a slow sink never holds up another. Full queues drop and count; events that can
//! never be delivered are appended to `<data_dir>/dlq/<sink>.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_rt::Arbiter;
use chrono::Utc;
use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::Settings;
use tokio::sync::{mpsc, oneshot, watch};

use crate::delivery::{Delivery, RetryPolicy};
use crate::metrics::{Metrics, SinkMetrics};
use crate::sink::{Sink, SinkSpec};

struct Queue {
    name: &'static str,
    tx: mpsc::Sender<RequestEvent>,
    metrics: SinkMetrics,
}

/// Cheap to clone and `Send`: what request handlers hold. Never blocks.
#[derive(Clone)]
pub struct EventSender {
    queues: Arc<Vec<Queue>>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.queues.iter().map(|q| q.name).collect();
        f.debug_struct("EventSender")
            .field("sinks", &names)
            .finish()
    }
}

impl EventSender {
    /// Queues the event for every sink; returns how many sinks dropped it (queue full or
    /// stopped), each drop counted in `events_dropped`.
    pub fn send(&self, event: RequestEvent) -> usize {
        let mut dropped = 0;
        let last = self.queues.len().saturating_sub(1);
        let mut event = Some(event);
        for (i, queue) in self.queues.iter().enumerate() {
            let item = if i == last {
                event.take()
            } else {
                event.clone()
            };
            let Some(item) = item else { continue };
            if queue.tx.try_send(item).is_err() {
                queue.metrics.dropped.inc();
                dropped += 1;
            }
        }
        dropped
    }

    pub fn send_batch(&self, events: Vec<RequestEvent>) -> usize {
        events.into_iter().map(|e| self.send(e)).sum()
    }

    pub fn sinks(&self) -> Vec<&'static str> {
        self.queues.iter().map(|q| q.name).collect()
    }
}

struct Running {
    name: &'static str,
    arbiter: Arbiter,
    done: oneshot::Receiver<()>,
}

/// The in-process dispatcher. Start it inside an actix `System`.
pub struct InProcessDispatcher {
    sender: EventSender,
    stop: watch::Sender<bool>,
    running: Vec<Running>,
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
}

impl InProcessConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            capacity: settings.dispatcher.queue_capacity,
            batch_size: settings.dispatcher.batch_size,
            policy: RetryPolicy::from_settings(&settings.dispatcher),
            dlq_dir: settings.data_dir.join("dlq"),
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

    pub fn start(specs: Vec<SinkSpec>, config: InProcessConfig, metrics: &Metrics) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut queues = Vec::new();
        let mut running = Vec::new();
        for spec in specs {
            let name = spec.name;
            let (tx, rx) = mpsc::channel(config.capacity.max(1));
            let sink_metrics = metrics.sink(name);
            queues.push(Queue {
                name,
                tx,
                metrics: sink_metrics.clone(),
            });
            let arbiter = Arbiter::new();
            let (done_tx, done) = oneshot::channel();
            let factory = spec.factory;
            let config = config.clone();
            let stop_rx = stop_rx.clone();
            arbiter.spawn_fn(move || {
                actix_rt::spawn(async move {
                    match factory() {
                        Ok(sink) => queue_loop(&*sink, rx, &config, &sink_metrics, stop_rx).await,
                        Err(e) => tracing::error!(sink = name, error = %e, "cannot start sink"),
                    }
                    let _ = done_tx.send(());
                });
            });
            running.push(Running {
                name,
                arbiter,
                done,
            });
        }
        Self {
            sender: EventSender {
                queues: Arc::new(queues),
            },
            stop,
            running,
        }
    }

    pub fn sender(&self) -> EventSender {
        self.sender.clone()
    }

    /// Delivers what is queued (one attempt each; failures go to the DLQ file), then stops.
    pub async fn shutdown(self, timeout: Duration) {
        let _ = self.stop.send(true);
        for running in self.running {
            if tokio::time::timeout(timeout, running.done).await.is_err() {
                tracing::warn!(sink = running.name, "in-process sink did not drain in time");
            }
            running.arbiter.stop();
        }
    }
}

async fn queue_loop(
    sink: &dyn Sink,
    mut rx: mpsc::Receiver<RequestEvent>,
    config: &InProcessConfig,
    metrics: &SinkMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = Vec::with_capacity(config.batch_size);
    loop {
        let stopping = *stop.borrow();
        if stopping {
            // Drain without waiting.
            while buf.len() < config.batch_size {
                match rx.try_recv() {
                    Ok(event) => buf.push(event),
                    Err(_) => break,
                }
            }
            if buf.is_empty() {
                return;
            }
        } else {
            tokio::select! {
                n = rx.recv_many(&mut buf, config.batch_size) => if n == 0 { return },
                _ = stop.changed() => continue,
            }
        }
        let events = std::mem::take(&mut buf);
        let n = events.len();
        let mut delivery = Delivery::new(events, vec![0; n]);
        while let Some(wait) = delivery.attempt(sink, &config.policy, metrics).await {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = stop.changed() => {},
            }
        }
        let reason = delivery
            .last_error()
            .unwrap_or("dispatcher stopped before delivery")
            .to_owned();
        let mut dead: Vec<(usize, String)> = std::mem::take(&mut delivery.dead);
        dead.extend(delivery.pending().iter().map(|&i| (i, reason.clone())));
        if !dead.is_empty() {
            metrics.dead_lettered.inc_by(dead.len() as u64);
            let lines: Vec<(&RequestEvent, &str)> = dead
                .iter()
                .map(|(i, r)| (&delivery.events[*i], r.as_str()))
                .collect();
            if let Err(e) = append_dlq(&config.dlq_dir, sink.name(), &lines) {
                tracing::error!(sink = sink.name(), error = %e, lost = dead.len(), "cannot write the DLQ file; events lost");
            }
        }
    }
}

/// Appends `{"event", "error", "failed_at"}` lines to `<dir>/<sink>.jsonl`, fsynced.
pub fn append_dlq(dir: &Path, sink: &str, dead: &[(&RequestEvent, &str)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut buf = Vec::new();
    let now = Utc::now().to_rfc3339();
    for (event, error) in dead {
        serde_json::to_writer(
            &mut buf,
            &serde_json::json!({"event": event, "error": error, "failed_at": now}),
        )?;
        buf.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{sink}.jsonl")))?;
    file.write_all(&buf)?;
    file.sync_data()
}
