//! Prometheus metrics of the data plane, served on `/metrics` (OpenMetrics text).

mod admission;
mod gateway;

pub use admission::mode_name;
pub use gateway::{CacheLabels, TransitionLabels, UpstreamLabels};

use llm_proxy_limits::DynAdmission;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub provider: String,
    pub status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub provider: String,
    /// `unreachable`, `timeout`, `idle_timeout`, `body`.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `queue_full`, `sink_error`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `quota_exceeded`, `token_rate`, `project_rate`, `limits_unavailable`, `internal`.
    pub reason: String,
}

type HistogramFamily = Family<ProviderLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms … ~9 min.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

fn status_class(status: u16) -> &'static str {
    const CLASSES: [&str; 10] = [
        "0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
    ];
    CLASSES
        .get(usize::from(status / 100))
        .copied()
        .unwrap_or("other")
}

fn overhead_histogram() -> Histogram {
    // 25 µs … ~0.8 s.
    Histogram::new(exponential_buckets(0.000_025, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    overhead: HistogramFamily,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub token_cache_hits: Counter,
    pub token_cache_misses: Counter,
    pub events_written: Counter,
    events_dropped: Family<DropLabels, Counter>,
    admission_refusals: Family<RefusalLabels, Counter>,
    pub session_seq_fallbacks: Counter,
    gateway: gateway::GatewayMetrics,
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

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("llm_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let overhead: HistogramFamily = Family::new_with_constructor(overhead_histogram);
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let token_cache_hits = Counter::default();
        let token_cache_misses = Counter::default();
        let events_written = Counter::default();
        let events_dropped = Family::<DropLabels, Counter>::default();
        let admission_refusals = Family::<RefusalLabels, Counter>::default();
        let session_seq_fallbacks = Counter::default();
        registry.register(
            "requests",
            "Requests answered, by provider and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Total time from request to the last byte of the answer",
            duration.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Time the gateway itself added (everything but waiting for the upstream)",
            overhead.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream calls that failed without an HTTP answer",
            upstream_errors.clone(),
        );
        registry.register(
            "token_cache_hits",
            "Token lookups answered from memory",
            token_cache_hits.clone(),
        );
        registry.register(
            "token_cache_misses",
            "Token lookups that went to the store",
            token_cache_misses.clone(),
        );
        registry.register(
            "events_written",
            "Request events written by the event sink",
            events_written.clone(),
        );
        registry.register(
            "events_dropped",
            "Request events lost, by reason",
            events_dropped.clone(),
        );
        registry.register(
            "admission_refusals",
            "Requests refused by admission, by reason",
            admission_refusals.clone(),
        );
        registry.register(
            "session_seq_fallbacks",
            "Events given session seq 0 because the session sequencer failed",
            session_seq_fallbacks.clone(),
        );
        let gateway = gateway::GatewayMetrics::register(&mut registry);
        Self {
            registry,
            gateway,
            requests,
            duration,
            overhead,
            upstream_errors,
            token_cache_hits,
            token_cache_misses,
            events_written,
            events_dropped,
            admission_refusals,
            session_seq_fallbacks,
        }
    }

    /// Exports `Admission::health()` at every scrape: `admission_mode{mode}` (1 for the current
    /// mode), `admission_degraded_decisions`, `admission_redis_outages`,
    /// `admission_unavailable`.
    pub fn register_admission(&mut self, admission: DynAdmission) {
        self.registry
            .register_collector(Box::new(admission::AdmissionCollector::new(admission)));
    }

    pub fn admission_refused(&self, reason: &str) {
        self.admission_refusals
            .get_or_create(&RefusalLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn request_done(&self, provider: &str, status: u16, duration_secs: f64) {
        let provider = provider.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                provider: provider.clone(),
                status_class: status_class(status),
            })
            .inc();
        self.duration
            .get_or_create(&ProviderLabels { provider })
            .observe(duration_secs);
    }

    pub fn overhead(&self, provider: &str, secs: f64) {
        self.overhead
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .observe(secs);
    }

    pub fn upstream_error(&self, provider: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                provider: provider.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn events_dropped(&self, reason: &str, n: u64) {
        self.events_dropped
            .get_or_create(&DropLabels {
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn encodes_counters_and_histograms() {
        let m = Metrics::new();
        m.request_done("openai", 200, 0.2);
        m.request_done("openai", 401, 0.001);
        m.overhead("openai", 0.0002);
        m.upstream_error("openai", "timeout");
        m.token_cache_hits.inc();
        m.events_dropped("queue_full", 3);
        m.admission_refused("token_rate");
        m.session_seq_fallbacks.inc();
        let text = m.encode();
        assert!(
            text.contains(r#"llm_proxy_requests_total{provider="openai",status_class="2xx"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"status_class="4xx""#));
        assert!(text.contains("llm_proxy_request_duration_seconds_bucket"));
        assert!(text.contains("llm_proxy_gateway_overhead_seconds_count"));
        assert!(
            text.contains(r#"llm_proxy_upstream_errors_total{provider="openai",kind="timeout"} 1"#)
        );
        assert!(text.contains("llm_proxy_token_cache_hits_total 1"));
        assert!(text.contains(r#"llm_proxy_events_dropped_total{reason="queue_full"} 3"#));
        assert!(text.contains(r#"llm_proxy_admission_refusals_total{reason="token_rate"} 1"#));
        assert!(text.contains("llm_proxy_session_seq_fallbacks_total 1"));
    }
}
