//! Retry backoff (exponential with full jitter) and the retry budget of one upstream.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use llm_proxy_platform::settings::RetrySettings;
use rand::Rng;

/// The wait before retry number `retry` (1 for the first retry): a random time up to
/// `base · 2^(retry-1)`, capped at `max`.
pub fn backoff(settings: &RetrySettings, retry: u32) -> Duration {
    let exp = 2u64.saturating_pow(retry.saturating_sub(1));
    let ceiling = settings
        .base_delay_ms
        .saturating_mul(exp)
        .min(settings.max_delay_ms);
    Duration::from_millis(rand::rng().random_range(0..=ceiling))
}

/// Retries stay under `budget_ratio` of the requests of the last window, plus
/// `budget_reserve`, so a failing upstream is not hit with a multiple of its load.
pub struct RetryBudget {
    ratio: f64,
    reserve: f64,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    requests: u64,
    retries: u64,
}

const WINDOW: Duration = Duration::from_secs(10);

impl RetryBudget {
    pub fn new(settings: &RetrySettings) -> Self {
        Self {
            ratio: settings.budget_ratio,
            reserve: f64::from(settings.budget_reserve),
            window: Mutex::new(Window {
                started: Instant::now(),
                requests: 0,
                retries: 0,
            }),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Window> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.started.elapsed() >= WINDOW {
            *window = Window {
                started: Instant::now(),
                requests: 0,
                retries: 0,
            };
        }
        window
    }

    /// Counts a first attempt.
    pub fn request(&self) {
        self.current().requests += 1;
    }

    /// Takes one retry from the budget, if there is one left.
    pub fn try_retry(&self) -> bool {
        let mut window = self.current();
        let allowed = self.reserve + self.ratio * window.requests as f64;
        if (window.retries as f64) < allowed {
            window.retries += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RetrySettings {
        RetrySettings {
            enabled: true,
            max_attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 300,
            budget_ratio: 0.5,
            budget_reserve: 1,
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = settings();
        for _ in 0..50 {
            assert!(backoff(&s, 1) <= Duration::from_millis(100));
            assert!(backoff(&s, 2) <= Duration::from_millis(200));
            assert!(backoff(&s, 9) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn budget_is_reserve_plus_a_share_of_requests() {
        let budget = RetryBudget::new(&settings());
        assert!(budget.try_retry());
        assert!(!budget.try_retry());
        budget.request();
        budget.request();
        assert!(budget.try_retry());
        assert!(!budget.try_retry());
    }
}
