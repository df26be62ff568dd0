//! `Admission::health()` as metrics, read at every scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use llm_proxy_limits::{AdmissionMode, DynAdmission};

const MODES: [(AdmissionMode, &str); 4] = [
    (AdmissionMode::Memory, "memory"),
    (AdmissionMode::Redis, "redis"),
    (AdmissionMode::Degraded, "degraded"),
    (AdmissionMode::Unavailable, "unavailable"),
];

/// `memory`, `redis`, `degraded` or `unavailable`.
pub fn mode_name(mode: AdmissionMode) -> &'static str {
    MODES
        .iter()
        .find(|(m, _)| *m == mode)
        .map_or("unknown", |(_, name)| name)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

pub(super) struct AdmissionCollector {
    admission: DynAdmission,
}

impl AdmissionCollector {
    pub(super) fn new(admission: DynAdmission) -> Self {
        Self { admission }
    }
}

impl std::fmt::Debug for AdmissionCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdmissionCollector")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    counter.encode(metric)
}

impl Collector for AdmissionCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let health = self.admission.health();
        let gauge_type = ConstGauge::new(0i64).metric_type();
        let mut family = encoder.encode_descriptor(
            "admission_mode",
            "Where admission decisions come from now (1 for the current mode)",
            None,
            gauge_type,
        )?;
        for (mode, name) in MODES {
            let labels = ModeLabels { mode: name };
            let gauge = ConstGauge::new(i64::from(health.mode == mode));
            gauge.encode(family.encode_family(&labels)?)?;
        }
        counter(
            &mut encoder,
            "admission_degraded_decisions",
            "Admission decisions this node made alone while Redis was away",
            health.degraded_decisions,
        )?;
        counter(
            &mut encoder,
            "admission_redis_outages",
            "Times Redis stopped answering admission calls",
            health.outages,
        )?;
        counter(
            &mut encoder,
            "admission_unavailable",
            "Admissions refused because no decision could be reached (503 limits_unavailable)",
            health.unavailable_errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use llm_proxy_limits::{LimitsConfig, MemoryAdmission};

    use crate::metrics::Metrics;

    #[test]
    fn health_is_exported_at_every_scrape() {
        let mut metrics = Metrics::new();
        metrics.register_admission(Arc::new(MemoryAdmission::new(LimitsConfig::default())));
        let text = metrics.encode();
        assert!(
            text.contains(r#"llm_proxy_admission_mode{mode="memory"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"llm_proxy_admission_mode{mode="redis"} 0"#));
        assert!(text.contains("llm_proxy_admission_degraded_decisions_total 0"));
        assert!(text.contains("llm_proxy_admission_redis_outages_total 0"));
        assert!(text.contains("llm_proxy_admission_unavailable_total 0"));
    }
}
