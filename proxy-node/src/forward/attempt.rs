//! One upstream call under the upstream's circuit breaker, with optional retries. A retry
//! happens only before anything reached the client: on no answer (connection refused, reset,
//! first-byte timeout) or a 502/503 head, after an exponential backoff with jitter, while the
//! retry budget lasts. Once a response head is handed on, nothing is retried, so a stream is
//! never started twice.
//!
//! Apart from those opt-in retries, a reused pooled connection that the upstream closed before
//! any response byte ([`Failure::Stale`]) is sent again at once, exactly once, on a fresh
//! connection: the upstream closed it while idle and never saw the request.

use awc::ClientResponse;
use llm_proxy_platform::settings::ResilienceSettings;

use super::send::{self, Connection, Failure, Outgoing};
use crate::metrics::Metrics;
use crate::resilience::{backoff, Upstream};

pub enum Refusal {
    /// The breaker is open; come back after this long.
    Open(std::time::Duration),
    Failed(Failure),
}

/// Statuses that count against the upstream's health.
fn unhealthy(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

fn retryable(status: u16) -> bool {
    matches!(status, 502 | 503)
}

pub struct Resilient<'a> {
    pub upstream: &'a Upstream,
    pub settings: &'a ResilienceSettings,
    pub metrics: &'a Metrics,
    pub provider: &'a str,
    pub upstream_name: &'a str,
}

impl Resilient<'_> {
    /// Sends `out`, retrying as configured; `attempts` counts the requests sent so far (it is
    /// read if the caller is dropped midway).
    pub async fn send(
        &self,
        out: &Outgoing<'_>,
        attempts: &mut u32,
    ) -> Result<ClientResponse, Refusal> {
        let retry = &self.settings.retry;
        self.upstream.budget.request();
        let mut connection = Connection::Pooled;
        let mut reconnected = false;
        loop {
            let ticket = match self.upstream.breaker.admit() {
                Ok(ticket) => ticket,
                Err(wait) => {
                    self.metrics.breaker_refused(self.upstream_name);
                    return Err(Refusal::Open(wait));
                }
            };
            *attempts += 1;
            let may_retry = || {
                retry.enabled && *attempts < retry.max_attempts && self.upstream.budget.try_retry()
            };
            match send::send(out, std::mem::replace(&mut connection, Connection::Pooled)).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if unhealthy(status) {
                        ticket.failure();
                    } else {
                        ticket.success();
                    }
                    if !(retryable(status) && may_retry()) {
                        return Ok(response);
                    }
                    tracing::info!(
                        provider = self.provider,
                        status,
                        attempt = *attempts,
                        "retrying the upstream call"
                    );
                }
                Err(failure) => {
                    if !failure.is_upstream_fault() {
                        return Err(Refusal::Failed(failure));
                    }
                    if failure.counts_against_upstream() {
                        ticket.failure();
                    }
                    self.metrics
                        .upstream_error(self.provider, failure.metric_kind());
                    if matches!(failure, Failure::Stale(_)) && !reconnected {
                        reconnected = true;
                        connection = Connection::Fresh;
                        self.metrics.retried(self.provider);
                        tracing::debug!(
                            provider = self.provider,
                            attempt = *attempts,
                            "pooled upstream connection was closed; resending on a new one"
                        );
                        continue;
                    }
                    if !may_retry() {
                        return Err(Refusal::Failed(failure));
                    }
                    tracing::info!(
                        provider = self.provider,
                        error = failure.metric_kind(),
                        attempt = *attempts,
                        "retrying the upstream call"
                    );
                }
            }
            self.metrics.retried(self.provider);
            tokio::time::sleep(backoff(retry, *attempts)).await;
        }
    }
}
