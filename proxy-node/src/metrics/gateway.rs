//! Metrics of the response cache, the circuit breakers, retries, concurrency limits and
//! estimated usage.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Metrics, ProviderLabels};
use crate::resilience::BreakerState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub upstream: String,
    /// `closed`, `open`, `half_open`.
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit`, `miss`, `stored`, `bypass`.
    pub result: String,
}

pub(super) struct GatewayMetrics {
    breaker_state: Family<UpstreamLabels, Gauge>,
    breaker_transitions: Family<TransitionLabels, Counter>,
    breaker_refusals: Family<UpstreamLabels, Counter>,
    retries: Family<ProviderLabels, Counter>,
    concurrency_refusals: Family<ProviderLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    cache_errors: Counter,
    cache_purged: Counter,
    usage_estimated: Counter,
}

impl GatewayMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            breaker_refusals: Family::default(),
            retries: Family::default(),
            concurrency_refusals: Family::default(),
            cache: Family::default(),
            cache_errors: Counter::default(),
            cache_purged: Counter::default(),
            usage_estimated: Counter::default(),
        };
        registry.register(
            "breaker_state",
            "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        registry.register(
            "breaker_transitions",
            "Circuit breaker state changes, by upstream and new state",
            m.breaker_transitions.clone(),
        );
        registry.register(
            "breaker_refusals",
            "Calls answered 503 upstream_unavailable because the breaker was open",
            m.breaker_refusals.clone(),
        );
        registry.register(
            "upstream_retries",
            "Upstream calls retried before the first byte reached the client",
            m.retries.clone(),
        );
        registry.register(
            "concurrency_refusals",
            "Calls refused because the provider's concurrency limit stayed full",
            m.concurrency_refusals.clone(),
        );
        registry.register(
            "response_cache",
            "Response cache outcomes (X-Proxy-Cache)",
            m.cache.clone(),
        );
        registry.register(
            "response_cache_errors",
            "Response cache backend failures (treated as misses)",
            m.cache_errors.clone(),
        );
        registry.register(
            "response_cache_purged",
            "Response cache entries removed by purges",
            m.cache_purged.clone(),
        );
        registry.register(
            "usage_estimated",
            "Calls whose usage was counted by the gateway's tokenizer",
            m.usage_estimated.clone(),
        );
        m
    }
}

impl Metrics {
    pub fn breaker_state(&self, upstream: &str, state: BreakerState) {
        let value = match state {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
        };
        let previous = self.gateway.breaker_state.get_or_create(&labels).set(value);
        if previous != value {
            self.gateway
                .breaker_transitions
                .get_or_create(&TransitionLabels {
                    upstream: upstream.to_owned(),
                    to: state.as_str().to_owned(),
                })
                .inc();
        }
    }

    pub fn breaker_refused(&self, upstream: &str) {
        self.gateway
            .breaker_refusals
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    pub fn retried(&self, provider: &str) {
        self.gateway
            .retries
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc();
    }

    pub fn concurrency_refused(&self, provider: &str) {
        self.gateway
            .concurrency_refusals
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc();
    }

    pub fn cache_result(&self, result: &str) {
        self.gateway
            .cache
            .get_or_create(&CacheLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn cache_error(&self) {
        self.gateway.cache_errors.inc();
    }

    pub fn cache_purged(&self, n: u64) {
        self.gateway.cache_purged.inc_by(n);
    }

    pub fn usage_estimated(&self) {
        self.gateway.usage_estimated.inc();
    }
}
