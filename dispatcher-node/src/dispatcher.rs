//! The Redis dispatcher: one arbiter (thread) per sink running its consumer-group loop, so a
//! slow or failing sink never holds up another.

use std::sync::Arc;
use std::time::Duration;

use llm_proxy_platform::settings::SinkScheduling;
use llm_proxy_platform::Settings;
use tokio::sync::watch;

use crate::consumer::{run_sink_loop, LoopConfig};
use crate::error::DispatcherError;
use crate::metrics::Metrics;
use crate::sink::SinkSpec;
use crate::sink_thread::{self, SinkThread};

/// Handle on the running sink loops. Must be started inside an actix `System`.
pub struct RedisDispatcher {
    stop: watch::Sender<bool>,
    running: Vec<SinkThread>,
}

impl std::fmt::Debug for RedisDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.running.iter().map(|r| r.name).collect();
        f.debug_struct("RedisDispatcher")
            .field("sinks", &names)
            .finish()
    }
}

impl RedisDispatcher {
    /// Starts one loop per sink spec, configured from `settings` (`redis`, `events`,
    /// `dispatcher`).
    pub fn start(
        settings: &Arc<Settings>,
        specs: Vec<SinkSpec>,
        metrics: &Metrics,
    ) -> Result<Self, DispatcherError> {
        let configs = specs
            .iter()
            .map(|spec| LoopConfig::from_settings(settings, spec.name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::start_with(
            specs.into_iter().zip(configs).collect(),
            metrics,
        ))
    }

    /// Starts loops with explicit configurations (tests use this for several consumers).
    pub fn start_with(loops: Vec<(SinkSpec, LoopConfig)>, metrics: &Metrics) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut running = Vec::new();
        for (spec, config) in loops {
            let stop_rx = stop_rx.clone();
            let sink_metrics = metrics.sink(spec.name);
            // A dispatcher node runs nothing else that its sinks should yield to.
            running.push(sink_thread::spawn(
                spec,
                SinkScheduling::Normal,
                move |sink, _| run_sink_loop(sink, config, sink_metrics, stop_rx),
            ));
        }
        Self { stop, running }
    }

    pub fn sinks(&self) -> Vec<&'static str> {
        self.running.iter().map(|r| r.name).collect()
    }

    /// Graceful stop: each loop finishes (or abandons, leaving entries pending) its batch.
    pub async fn stop(self, timeout: Duration) {
        let _ = self.stop.send(true);
        for running in self.running {
            if tokio::time::timeout(timeout, running.done).await.is_err() {
                tracing::warn!(sink = running.name, "sink loop did not stop in time");
            }
            running.arbiter.stop();
        }
    }

    /// Stops every loop at once, mid-batch, without acknowledging anything (what a SIGKILL
    /// does to a dispatcher process).
    pub fn kill(self) {
        for running in self.running {
            running.arbiter.stop();
        }
    }
}
