//! Per-sink delivery metrics, served on `/metrics` (OpenMetrics text).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: String,
}

pub struct Metrics {
    registry: Registry,
    delivered: Family<SinkLabel, Counter>,
    failed: Family<SinkLabel, Counter>,
    retried: Family<SinkLabel, Counter>,
    dead_lettered: Family<SinkLabel, Counter>,
    dropped: Family<SinkLabel, Counter>,
    spilled: Family<SinkLabel, Counter>,
    replayed: Family<SinkLabel, Counter>,
    spill_bytes: Family<SinkLabel, Gauge>,
    pending: Family<SinkLabel, Gauge>,
    lag: Family<SinkLabel, Gauge>,
    dlq_length: Family<SinkLabel, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The counters and gauges of one sink (cheap clones of the registered ones).
#[derive(Debug, Clone, Default)]
pub struct SinkMetrics {
    /// Events the sink confirmed.
    pub delivered: Counter,
    /// Events in failed delivery attempts.
    pub failed: Counter,
    /// Events attempted again after a failure.
    pub retried: Counter,
    /// Events moved to the dead-letter queue.
    pub dead_lettered: Counter,
    /// Embedded mode: events dropped because the sink's queue and its spill were full.
    pub dropped: Counter,
    /// Embedded mode: events written to the sink's spill because its queue was full.
    pub spilled: Counter,
    /// Embedded mode: spilled events read back and handed to the sink.
    pub replayed: Counter,
    /// Embedded mode: bytes of the sink's spill on disk.
    pub spill_bytes: Gauge,
    /// Entries read but not yet acknowledged (all shards).
    pub pending: Gauge,
    /// Entries in the streams not yet read by the sink's group (all shards).
    pub lag: Gauge,
    pub dlq_length: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("llm_proxy_dispatcher");
        let delivered = Family::<SinkLabel, Counter>::default();
        let failed = Family::<SinkLabel, Counter>::default();
        let retried = Family::<SinkLabel, Counter>::default();
        let dead_lettered = Family::<SinkLabel, Counter>::default();
        let dropped = Family::<SinkLabel, Counter>::default();
        let spilled = Family::<SinkLabel, Counter>::default();
        let replayed = Family::<SinkLabel, Counter>::default();
        let spill_bytes = Family::<SinkLabel, Gauge>::default();
        let pending = Family::<SinkLabel, Gauge>::default();
        let lag = Family::<SinkLabel, Gauge>::default();
        let dlq_length = Family::<SinkLabel, Gauge>::default();
        registry.register(
            "events_delivered",
            "Events a sink confirmed",
            delivered.clone(),
        );
        registry.register(
            "events_failed",
            "Events in failed delivery attempts",
            failed.clone(),
        );
        registry.register(
            "events_retried",
            "Events attempted again after a failure",
            retried.clone(),
        );
        registry.register(
            "events_dead_lettered",
            "Events moved to the dead-letter queue",
            dead_lettered.clone(),
        );
        registry.register(
            "events_dropped",
            "Events dropped because an in-process sink queue and its spill were full",
            dropped.clone(),
        );
        registry.register(
            "events_spilled",
            "Events written to an in-process sink's disk spill because its queue was full",
            spilled.clone(),
        );
        registry.register(
            "events_replayed",
            "Spilled events read back and handed to the sink",
            replayed.clone(),
        );
        registry.register(
            "spill_bytes",
            "Bytes of an in-process sink's disk spill",
            spill_bytes.clone(),
        );
        registry.register(
            "events_pending",
            "Entries read by the sink's group but not acknowledged",
            pending.clone(),
        );
        registry.register(
            "events_lag",
            "Entries not yet read by the sink's group",
            lag.clone(),
        );
        registry.register(
            "dlq_length",
            "Entries in the sink's dead-letter queue",
            dlq_length.clone(),
        );
        Self {
            registry,
            delivered,
            failed,
            retried,
            dead_lettered,
            dropped,
            spilled,
            replayed,
            spill_bytes,
            pending,
            lag,
            dlq_length,
        }
    }

    pub fn sink(&self, sink: &str) -> SinkMetrics {
        let label = SinkLabel {
            sink: sink.to_owned(),
        };
        SinkMetrics {
            delivered: self.delivered.get_or_create(&label).clone(),
            failed: self.failed.get_or_create(&label).clone(),
            retried: self.retried.get_or_create(&label).clone(),
            dead_lettered: self.dead_lettered.get_or_create(&label).clone(),
            dropped: self.dropped.get_or_create(&label).clone(),
            spilled: self.spilled.get_or_create(&label).clone(),
            replayed: self.replayed.get_or_create(&label).clone(),
            spill_bytes: self.spill_bytes.get_or_create(&label).clone(),
            pending: self.pending.get_or_create(&label).clone(),
            lag: self.lag.get_or_create(&label).clone(),
            dlq_length: self.dlq_length.get_or_create(&label).clone(),
        }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
