//! Upstream resilience: a circuit breaker and a retry budget per upstream host, a concurrency
//! limit per provider, and the drain state a graceful shutdown flips.

mod breaker;
mod concurrency;
pub mod drain;
mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use llm_proxy_platform::settings::ResilienceSettings;

pub use breaker::{Breaker, BreakerState, Ticket};
pub use concurrency::Concurrency;
pub use drain::Drain;
pub use retry::{backoff, RetryBudget};

use crate::metrics::Metrics;

/// What the gateway tracks about one upstream host.
pub struct Upstream {
    pub breaker: Arc<Breaker>,
    pub budget: RetryBudget,
}

/// Every upstream's breaker and retry budget, created on first use.
pub struct Upstreams {
    settings: ResilienceSettings,
    metrics: Arc<Metrics>,
    by_host: Mutex<HashMap<String, Arc<Upstream>>>,
}

impl Upstreams {
    pub fn new(settings: ResilienceSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            metrics,
            by_host: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &ResilienceSettings {
        &self.settings
    }

    /// `key` names the upstream: provider and `host[:port]`.
    pub fn get(&self, key: &str) -> Arc<Upstream> {
        let mut by_host = self.by_host.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(upstream) = by_host.get(key) {
            return Arc::clone(upstream);
        }
        let upstream = Arc::new(Upstream {
            breaker: Arc::new(Breaker::new(
                key,
                &self.settings.breaker,
                Arc::clone(&self.metrics),
            )),
            budget: RetryBudget::new(&self.settings.retry),
        });
        by_host.insert(key.to_owned(), Arc::clone(&upstream));
        upstream
    }
}
