//! The response cache (`[cache]`) and upstream resilience (`[resilience]`): circuit breaker and
//! retries.

use serde::{Deserialize, Serialize};

use super::SettingsError;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// GET/HEAD answers are stored when the upstream allows it; POST answers only when the
    /// request opts in (`Cache-Control: public, max-age=N`).
    pub enabled: bool,
    pub backend: CacheBackend,
    /// Memory backend: total bytes of cached answers; least recently used go first.
    pub max_bytes: u64,
    /// Answers larger than this are never stored.
    pub max_object_bytes: usize,
    /// TTL when neither the response nor the request names one (`s-maxage` > `max-age`).
    pub default_ttl_secs: u64,
    /// No entry lives longer than this, whatever the headers say.
    pub max_ttl_secs: u64,
    /// Redis backend: longest wait for a lookup or a store; past it the call is a miss.
    pub redis_timeout_ms: u64,
    /// Store completed event streams of opted-in requests (replayed as `text/event-stream`).
    pub streams: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheBackend {
    /// Redis when `redis.url` is set, memory otherwise.
    Auto,
    Memory,
    Redis,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceSettings {
    pub breaker: BreakerSettings,
    pub retry: RetrySettings,
}

/// One breaker per upstream host: `failure_threshold` consecutive failures (no answer, or a
/// 5xx other than 501) open it; after `open_secs` one probe is let through (half-open); its
/// success closes the breaker, its failure opens it again.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    pub enabled: bool,
    pub failure_threshold: u32,
    pub open_secs: u64,
}

/// Retries of calls that failed before anything reached the client (connection refused,
/// first-byte timeout, 502/503 from the upstream). Off by default: a retried POST may cost twice.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    pub enabled: bool,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before retry n is `base_delay_ms * 2^(n-1)` with full jitter, at most
    /// `max_delay_ms`.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Retry budget per upstream: retries stay under this share of requests (plus
    /// `budget_reserve` retries that are always allowed).
    pub budget_ratio: f64,
    pub budget_reserve: u32,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: CacheBackend::Auto,
            max_bytes: 64 * 1024 * 1024,
            max_object_bytes: 1024 * 1024,
            default_ttl_secs: 300,
            max_ttl_secs: 24 * 3600,
            redis_timeout_ms: 100,
            streams: true,
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            open_secs: 30,
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            max_attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 2_000,
            budget_ratio: 0.2,
            budget_reserve: 10,
        }
    }
}

impl CacheSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.enabled && (self.max_bytes == 0 || self.max_object_bytes == 0) {
            return Err(SettingsError::invalid(
                "cache.max_bytes",
                "cache.max_bytes and cache.max_object_bytes must be greater than 0",
            ));
        }
        if self.redis_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "cache.redis_timeout_ms",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

impl ResilienceSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.breaker.failure_threshold == 0 {
            return Err(SettingsError::invalid(
                "resilience.breaker.failure_threshold",
                "must be greater than 0",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(SettingsError::invalid(
                "resilience.retry.max_attempts",
                "must be at least 1 (the first attempt)",
            ));
        }
        if !(0.0..=1.0).contains(&self.retry.budget_ratio) {
            return Err(SettingsError::invalid(
                "resilience.retry.budget_ratio",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::settings::{CacheBackend, LoadOptions, Settings};

    fn load(env: &[(&str, &str)]) -> Result<Settings, crate::SettingsError> {
        Settings::load(LoadOptions {
            config_file: None,
            overrides: Vec::new(),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
        })
    }

    #[test]
    fn defaults_keep_retries_off_and_the_cache_on() {
        let s = load(&[]).unwrap();
        assert!(s.cache.enabled);
        assert_eq!(s.cache.backend, CacheBackend::Auto);
        assert!(s.resilience.breaker.enabled);
        assert!(!s.resilience.retry.enabled);
    }

    #[test]
    fn nested_keys_load_from_the_environment_and_unknown_ones_are_named() {
        let s = load(&[
            ("LLM_PROXY_CACHE__BACKEND", "redis"),
            ("LLM_PROXY_CACHE__MAX_OBJECT_BYTES", "2048"),
            ("LLM_PROXY_RESILIENCE__RETRY__ENABLED", "true"),
            ("LLM_PROXY_RESILIENCE__BREAKER__FAILURE_THRESHOLD", "9"),
        ])
        .unwrap();
        assert_eq!(s.cache.backend, CacheBackend::Redis);
        assert_eq!(s.cache.max_object_bytes, 2048);
        assert!(s.resilience.retry.enabled);
        assert_eq!(s.resilience.breaker.failure_threshold, 9);
        let err = load(&[("LLM_PROXY_RESILIENCE__BREAKER__THRESHOLD", "3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("threshold"), "{err}");
        let err = load(&[("LLM_PROXY_RESILIENCE__RETRY__BUDGET_RATIO", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("budget_ratio"), "{err}");
    }
}
