//! A circuit breaker (closed → open → half-open with a single probe → closed). Small enough
//! to own: the crates around want their own call wrappers, and none reports `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llm_proxy_platform::settings::BreakerSettings;

use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Breaker {
    upstream: String,
    enabled: bool,
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

/// Permission for one call. A probe's ticket dropped without a result (the client went away)
/// lets the next call probe instead.
pub struct Ticket {
    breaker: Arc<Breaker>,
    probe: bool,
    done: bool,
}

impl Ticket {
    pub fn success(mut self) {
        self.done = true;
        self.breaker.record(self.probe, true);
    }

    pub fn failure(mut self) {
        self.done = true;
        self.breaker.record(self.probe, false);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.probe && !self.done {
            let mut state = self.breaker.lock();
            if matches!(*state, State::HalfOpen { probing: true }) {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

/// While a probe is out, other calls are told to come back this much later.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Breaker {
    pub fn new(upstream: &str, settings: &BreakerSettings, metrics: Arc<Metrics>) -> Self {
        metrics.breaker_state(upstream, BreakerState::Closed);
        Self {
            upstream: upstream.to_owned(),
            enabled: settings.enabled,
            threshold: settings.failure_threshold.max(1),
            open_for: Duration::from_secs(settings.open_secs),
            state: Mutex::new(State::Closed { failures: 0 }),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A ticket for one call, or how long until the breaker lets calls through again.
    pub fn admit(self: &Arc<Self>) -> Result<Ticket, Duration> {
        let ticket = |probe| Ticket {
            breaker: Arc::clone(self),
            probe,
            done: false,
        };
        if !self.enabled {
            return Ok(ticket(false));
        }
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(ticket(false)),
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                *state = State::HalfOpen { probing: true };
                drop(state);
                self.changed(BreakerState::HalfOpen);
                Ok(ticket(true))
            }
            State::HalfOpen { probing: true } => Err(PROBE_RETRY_AFTER),
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(ticket(true))
            }
        }
    }

    fn record(&self, probe: bool, ok: bool) {
        if !self.enabled {
            return;
        }
        let mut state = self.lock();
        let next = match (&mut *state, probe, ok) {
            (State::HalfOpen { .. }, true, true) => State::Closed { failures: 0 },
            (State::HalfOpen { .. }, true, false) => State::Open {
                until: Instant::now() + self.open_for,
            },
            (State::Closed { failures }, false, true) => {
                *failures = 0;
                return;
            }
            (State::Closed { failures }, false, false) => {
                *failures += 1;
                if *failures < self.threshold {
                    return;
                }
                State::Open {
                    until: Instant::now() + self.open_for,
                }
            }
            // Answers to calls let through before the last change say nothing new.
            _ => return,
        };
        let to = match next {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        };
        *state = next;
        drop(state);
        self.changed(to);
    }

    fn changed(&self, to: BreakerState) {
        self.metrics.breaker_state(&self.upstream, to);
        match to {
            BreakerState::Open => tracing::warn!(
                upstream = %self.upstream,
                open_secs = self.open_for.as_secs(),
                "circuit breaker opened: the upstream keeps failing"
            ),
            BreakerState::HalfOpen => tracing::info!(
                upstream = %self.upstream,
                "circuit breaker half-open: letting one probe through"
            ),
            BreakerState::Closed => {
                tracing::info!(upstream = %self.upstream, "circuit breaker closed: the upstream recovered")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn breaker(open_secs: u64) -> Arc<Breaker> {
        let settings = BreakerSettings {
            enabled: true,
            failure_threshold: 2,
            open_secs,
        };
        Arc::new(Breaker::new("u", &settings, Arc::new(Metrics::new())))
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker(60);
        b.admit().unwrap().failure();
        b.admit().unwrap().success();
        b.admit().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.admit().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.admit().err().unwrap();
        assert!(wait > Duration::from_secs(50));
    }

    #[test]
    fn half_open_lets_one_probe_through() {
        let b = breaker(0);
        b.admit().unwrap().failure();
        b.admit().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        let probe = b.admit().unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit().err(), Some(PROBE_RETRY_AFTER));
        // A probe abandoned without an answer frees the slot.
        drop(probe);
        let probe = b.admit().unwrap();
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);
        b.admit().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn disabled_never_refuses() {
        let settings = BreakerSettings {
            enabled: false,
            failure_threshold: 1,
            open_secs: 60,
        };
        let b = Arc::new(Breaker::new("u", &settings, Arc::new(Metrics::new())));
        for _ in 0..5 {
            b.admit().unwrap().failure();
        }
        assert!(b.admit().is_ok());
    }
}
