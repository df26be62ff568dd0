//! Tunables of the admission implementations. Only the policy and the node count come from
//! settings; the rest are sensible constants that tests shorten.

use std::time::Duration;

use llm_proxy_platform::settings::UnavailablePolicy;
use llm_proxy_platform::Settings;

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// The span a `rate_limit_rpm` counts over: one minute. Tests shorten it.
    pub window: Duration,
    /// Deadline of one Redis admission call (connect and response); past it Redis counts as
    /// unavailable for this request.
    pub redis_timeout: Duration,
    /// A token's Redis lifetime counter lives this long after its last admitted request. When
    /// it is gone the counter is seeded again from the store's count, which by then has long
    /// caught up with the batched write-back.
    pub counter_ttl: Duration,
    /// In memory, a token or project idle this long is forgotten (raised to at least `window`).
    pub idle_ttl: Duration,
    /// What to do while Redis does not answer.
    pub unavailable_policy: UnavailablePolicy,
    /// Under `degraded`, each node enforces `limit / degraded_node_count` (at least 1).
    pub degraded_node_count: u32,
    /// While Redis is down, the first retry after this long, doubling up to `probe_max`.
    pub probe_min: Duration,
    pub probe_max: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            redis_timeout: Duration::from_millis(1000),
            counter_ttl: Duration::from_secs(30 * 24 * 3600),
            idle_ttl: Duration::from_secs(600),
            unavailable_policy: UnavailablePolicy::FailClosed,
            degraded_node_count: 1,
            probe_min: Duration::from_millis(200),
            probe_max: Duration::from_secs(5),
        }
    }
}

impl LimitsConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            unavailable_policy: settings.redis.unavailable_policy,
            degraded_node_count: settings.redis.degraded_node_count.max(1),
            redis_timeout: Duration::from_millis(settings.redis.command_timeout_ms.max(1)),
            ..Self::default()
        }
    }

    pub(crate) fn window_us(&self) -> u64 {
        duration_us(self.window).max(1)
    }
}

pub(crate) fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
