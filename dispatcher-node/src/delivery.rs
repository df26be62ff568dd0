//! One batch on its way into one sink: attempts, backoff with jitter, and the fate of every
//! event (delivered or dead-lettered). Shared by the Redis loop and the in-process dispatcher;
//! the caller drives it (so it can stop, or keep its claim on the entries, between attempts).

use std::time::Duration;

use llm_proxy_platform::settings::DispatcherSettings;
use rand::Rng;

use crate::metrics::SinkMetrics;
use crate::sink::{SharedEvent, Sink, SinkError};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_deliveries: u32,
}

impl RetryPolicy {
    pub fn from_settings(settings: &DispatcherSettings) -> Self {
        Self {
            base: Duration::from_millis(settings.retry_base_ms),
            max: Duration::from_millis(settings.retry_max_ms),
            max_deliveries: settings.max_deliveries.max(1),
        }
    }

    /// `base · 2^(attempt-1)`, capped, with "equal jitter" (a random point in its upper
    /// half); a server's `Retry-After` is honoured up to the cap.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        let delay = half + Duration::from_millis(jitter);
        match retry_after {
            Some(after) => delay.max(after.min(self.max)),
            None => delay,
        }
    }
}

/// The state of a batch between attempts.
#[derive(Debug)]
pub struct Delivery {
    pub events: Vec<SharedEvent>,
    /// Deliveries of each event so far (including earlier consumers').
    pub attempts: Vec<u32>,
    pending: Vec<usize>,
    /// Indices confirmed by the sink.
    pub delivered: Vec<usize>,
    /// Indices to dead-letter, with the reason.
    pub dead: Vec<(usize, String)>,
    last_error: Option<String>,
}

impl Delivery {
    pub fn new(events: Vec<SharedEvent>, attempts: Vec<u32>) -> Self {
        let pending = (0..events.len()).collect();
        Self {
            events,
            attempts,
            pending,
            delivered: Vec::new(),
            dead: Vec::new(),
            last_error: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.pending.is_empty()
    }

    /// Indices still waiting for a successful attempt.
    pub fn pending(&self) -> &[usize] {
        &self.pending
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// One attempt over the pending events. `None`: finished; `Some(d)`: try again after `d`.
    pub async fn attempt(
        &mut self,
        sink: &dyn Sink,
        policy: &RetryPolicy,
        metrics: &SinkMetrics,
    ) -> Option<Duration> {
        if self.pending.is_empty() {
            return None;
        }
        // Entries that already failed too often (a consumer crashed on them) go straight out.
        let max = policy.max_deliveries;
        let (exhausted, live): (Vec<usize>, Vec<usize>) =
            self.pending.iter().partition(|&&i| self.attempts[i] >= max);
        for i in exhausted {
            self.dead.push((
                i,
                format!("delivered {} times without success", self.attempts[i]),
            ));
        }
        self.pending = live;
        if self.pending.is_empty() {
            return None;
        }
        for &i in &self.pending {
            self.attempts[i] += 1;
        }
        let n = self.pending.len() as u64;
        let result = if self.pending.len() == self.events.len() {
            sink.deliver(&self.events).await
        } else {
            let batch: Vec<SharedEvent> = self
                .pending
                .iter()
                .map(|&i| SharedEvent::clone(&self.events[i]))
                .collect();
            sink.deliver(&batch).await
        };
        match result {
            Ok(()) => {
                metrics.delivered.inc_by(n);
                self.delivered.append(&mut self.pending);
                None
            }
            Err(SinkError::Permanent { message }) => {
                metrics.failed.inc_by(n);
                tracing::warn!(sink = sink.name(), events = n, error = %message, "permanent delivery failure");
                for i in std::mem::take(&mut self.pending) {
                    self.dead.push((i, message.clone()));
                }
                self.last_error = Some(message);
                None
            }
            Err(SinkError::Partial { rejected, message }) => {
                let rejected: Vec<usize> = rejected
                    .into_iter()
                    .filter_map(|r| self.pending.get(r).copied())
                    .collect();
                metrics.failed.inc_by(rejected.len() as u64);
                tracing::warn!(sink = sink.name(), rejected = rejected.len(), error = %message, "sink rejected some events");
                for i in std::mem::take(&mut self.pending) {
                    if rejected.contains(&i) {
                        self.dead.push((i, message.clone()));
                    } else {
                        self.delivered.push(i);
                    }
                }
                metrics.delivered.inc_by(n - rejected.len() as u64);
                self.last_error = Some(message);
                None
            }
            Err(SinkError::Retryable {
                message,
                retry_after,
            }) => {
                metrics.failed.inc_by(n);
                let (out, keep): (Vec<usize>, Vec<usize>) =
                    self.pending.iter().partition(|&&i| self.attempts[i] >= max);
                for i in out {
                    self.dead
                        .push((i, format!("{message} (after {max} deliveries)")));
                }
                self.pending = keep;
                let attempt = self
                    .pending
                    .iter()
                    .map(|&i| self.attempts[i])
                    .max()
                    .unwrap_or(1);
                tracing::warn!(sink = sink.name(), events = n, attempt, error = %message, "delivery failed, will retry");
                self.last_error = Some(message);
                if self.pending.is_empty() {
                    None
                } else {
                    metrics.retried.inc_by(self.pending.len() as u64);
                    Some(policy.backoff(attempt, retry_after))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
            max_deliveries: 5,
        };
        for _ in 0..50 {
            let d1 = policy.backoff(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = policy.backoff(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d30 = policy.backoff(30, None);
            assert!(d30 <= Duration::from_millis(1_000));
        }
        assert!(policy.backoff(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
        assert!(policy.backoff(1, Some(Duration::from_secs(60))) <= Duration::from_millis(1_000));
    }
}
