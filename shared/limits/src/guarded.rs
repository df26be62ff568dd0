//! [`GuardedAdmission`]: Redis admission under the deployment's `redis.unavailable_policy`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_proxy_core::budget::Spend;
use llm_proxy_core::token::TokenUsage;
use llm_proxy_platform::settings::UnavailablePolicy;

use crate::usage::merge;
use crate::{
    Admission, AdmissionHealth, AdmissionMode, AdmissionRequest, BudgetLimit, Decision,
    LimitsConfig, LimitsError, MemoryAdmission, RedisAdmission, Reservation,
};

/// Failures in a row that count Redis as down: a refused connection fails every call at once,
/// while one slow answer on a loaded machine must not switch the whole node to the policy.
const DOWN_AFTER_FAILURES: u32 = 3;

enum Link {
    Up,
    Down {
        since: Instant,
        next_probe: Instant,
        backoff: Duration,
    },
}

/// Redis admission with an explicit answer for "Redis does not answer":
///
/// - `fail_closed`: [`LimitsError::Unavailable`] (the proxy answers 503 `limits_unavailable`);
/// - `degraded`: an in-memory [`MemoryAdmission`] enforces this node's share of every limit
///   (`limit / degraded_node_count`, at least 1; for the lifetime quota, that share of what the
///   store says is left) and every such decision is marked `degraded` (the proxy adds
///   `x-llm-proxy-degraded: 1`).
///
/// Never silent: each transition is logged once (warn going down, info coming back) and counted
/// in [`AdmissionHealth`]. While Redis is down, one request at a time tries it again after a
/// backoff (from `probe_min`, doubling to `probe_max`); the others do not wait for Redis at
/// all. The first answer switches back to Redis, without rebuilding anything.
///
/// After an outage, Redis windows do not contain the requests admitted in memory meanwhile,
/// so for up to one window a token can get its Redis rate on top of what it used while
/// degraded; the lifetime count catches up as soon as the store's count (which includes the
/// degraded requests through [`Admission::drain_usage`]) reaches the proxy's token cache.
///
/// Budgets while degraded: each node may spend its share of what the ledger says is left
/// (reservations made then are settled in memory too). A stream reserved on Redis that needs
/// more while Redis is away is given it without counting (`degraded`); its settlement, once
/// Redis answers, charges what it really used.
pub struct GuardedAdmission {
    redis: RedisAdmission,
    fallback: MemoryAdmission,
    policy: UnavailablePolicy,
    node_count: u32,
    probe_min: Duration,
    probe_max: Duration,
    link: Mutex<Link>,
    failures_in_a_row: AtomicU32,
    outages: AtomicU64,
    degraded_decisions: AtomicU64,
    unavailable_errors: AtomicU64,
}

impl GuardedAdmission {
    /// The policy and node count come from `config` (see [`LimitsConfig::from_settings`]).
    pub fn new(redis: RedisAdmission, config: LimitsConfig) -> Self {
        Self {
            redis,
            fallback: MemoryAdmission::new(config.clone()),
            policy: config.unavailable_policy,
            node_count: config.degraded_node_count.max(1),
            probe_min: config.probe_min,
            probe_max: config.probe_max.max(config.probe_min),
            link: Mutex::new(Link::Up),
            failures_in_a_row: AtomicU32::new(0),
            outages: AtomicU64::new(0),
            degraded_decisions: AtomicU64::new(0),
            unavailable_errors: AtomicU64::new(0),
        }
    }

    pub fn redis(&self) -> &RedisAdmission {
        &self.redis
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this call may use Redis; while down, the first caller after the backoff claims
    /// the probe by moving the next one forward (a cancelled probe only costs one backoff).
    fn claim_redis(&self) -> Option<bool> {
        let mut link = self.link();
        match &mut *link {
            Link::Up => Some(false),
            Link::Down {
                next_probe,
                backoff,
                ..
            } => {
                let now = Instant::now();
                if now < *next_probe {
                    return None;
                }
                *next_probe = now + *backoff;
                Some(true)
            }
        }
    }

    fn on_answer(&self) {
        let mut link = self.link();
        if let Link::Down { since, .. } = &*link {
            tracing::info!(
                outage_ms = since.elapsed().as_millis() as u64,
                "Redis answers again: admission is exact across nodes again"
            );
            *link = Link::Up;
        }
    }

    fn on_failure(&self, error: &LimitsError, probe: bool) {
        let mut link = self.link();
        let now = Instant::now();
        match &mut *link {
            Link::Up => {
                let failures = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if failures < DOWN_AFTER_FAILURES {
                    tracing::debug!(%error, failures, "Redis admission call failed");
                    return;
                }
                self.failures_in_a_row.store(0, Ordering::Relaxed);
                self.outages.fetch_add(1, Ordering::Relaxed);
                match self.policy {
                    UnavailablePolicy::FailClosed => tracing::warn!(
                        %error,
                        policy = "fail_closed",
                        "Redis unavailable: refusing requests (503 limits_unavailable) until it answers"
                    ),
                    UnavailablePolicy::Degraded => tracing::warn!(
                        %error,
                        policy = "degraded",
                        node_count = self.node_count,
                        "Redis unavailable: this node enforces 1/{} of each limit in memory until it answers",
                        self.node_count
                    ),
                }
                *link = Link::Down {
                    since: now,
                    next_probe: now + self.probe_min,
                    backoff: self.probe_min,
                };
            }
            Link::Down {
                next_probe,
                backoff,
                ..
            } if probe => {
                *backoff = (*backoff * 2).min(self.probe_max);
                *next_probe = now + *backoff;
                tracing::debug!(%error, retry_in_ms = backoff.as_millis() as u64, "Redis still unavailable");
            }
            Link::Down { .. } => {}
        }
    }

    /// This node's share of each limit.
    fn share(&self, req: &AdmissionRequest) -> AdmissionRequest {
        let n = self.node_count;
        let rate = |limit: Option<u32>| limit.map(|l| if l == 0 { 0 } else { (l / n).max(1) });
        let part = |max: u64, spent: u64| {
            let left = max.saturating_sub(spent);
            if left == 0 {
                max
            } else {
                spent + (left / u64::from(n)).max(1)
            }
        };
        let budget_share = |l: &Option<BudgetLimit>| {
            l.as_ref().map(|l| BudgetLimit {
                max_tokens: l.max_tokens.map(|m| part(m, l.spent.tokens)),
                max_cost_nano_usd: l.max_cost_nano_usd.map(|m| part(m, l.spent.cost_nano_usd)),
                ..l.clone()
            })
        };
        AdmissionRequest {
            max_requests: req.max_requests.map(|max| part(max, req.used)),
            token_rpm: rate(req.token_rpm),
            project_rpm: rate(req.project_rpm),
            budget: req.budget.as_ref().map(|ask| crate::BudgetAsk {
                token: budget_share(&ask.token),
                project: budget_share(&ask.project),
                ..ask.clone()
            }),
            ..req.clone()
        }
    }

    async fn without_redis(
        &self,
        req: &AdmissionRequest,
        error: LimitsError,
    ) -> Result<Decision, LimitsError> {
        match self.policy {
            UnavailablePolicy::FailClosed => {
                self.unavailable_errors.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
            UnavailablePolicy::Degraded => {
                self.degraded_decisions.fetch_add(1, Ordering::Relaxed);
                let mut decision = self.fallback.admit(&self.share(req)).await?;
                decision.degraded = true;
                if let Some(res) = &mut decision.reservation {
                    res.local = true;
                }
                Ok(decision)
            }
        }
    }
}

#[async_trait]
impl Admission for GuardedAdmission {
    async fn admit(&self, req: &AdmissionRequest) -> Result<Decision, LimitsError> {
        let Some(probe) = self.claim_redis() else {
            let error = LimitsError::Unavailable("Redis is unavailable".to_owned());
            return self.without_redis(req, error).await;
        };
        match self.redis.admit(req).await {
            Ok(decision) => {
                if probe {
                    self.on_answer();
                }
                if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
                    self.failures_in_a_row.store(0, Ordering::Relaxed);
                }
                Ok(decision)
            }
            Err(error) if error.is_unavailable() => {
                self.on_failure(&error, probe);
                self.without_redis(req, error).await
            }
            Err(other) => Err(other),
        }
    }

    async fn settle(&self, reservation: &Reservation, actual: Spend) -> Result<(), LimitsError> {
        if reservation.local {
            self.fallback.settle_local(reservation, actual);
            return Ok(());
        }
        self.redis.settle(reservation, actual).await
    }

    async fn extend(
        &self,
        reservation: &mut Reservation,
        min_output: u64,
        max_output: u64,
    ) -> Result<Option<u64>, LimitsError> {
        if reservation.local {
            return Ok(self
                .fallback
                .extend_local(reservation, min_output, max_output));
        }
        match self.redis.extend(reservation, min_output, max_output).await {
            Err(error) if error.is_unavailable() => match self.policy {
                UnavailablePolicy::FailClosed => {
                    self.unavailable_errors.fetch_add(1, Ordering::Relaxed);
                    Err(error)
                }
                UnavailablePolicy::Degraded => {
                    self.degraded_decisions.fetch_add(1, Ordering::Relaxed);
                    reservation.output_tokens =
                        reservation.output_tokens.saturating_add(max_output);
                    Ok(Some(max_output))
                }
            },
            other => other,
        }
    }

    fn drain_usage(&self) -> Vec<TokenUsage> {
        merge(self.redis.drain_usage(), self.fallback.drain_usage())
    }

    fn health(&self) -> AdmissionHealth {
        let mode = match (&*self.link(), self.policy) {
            (Link::Up, _) => AdmissionMode::Redis,
            (Link::Down { .. }, UnavailablePolicy::Degraded) => AdmissionMode::Degraded,
            (Link::Down { .. }, UnavailablePolicy::FailClosed) => AdmissionMode::Unavailable,
        };
        AdmissionHealth {
            mode,
            outages: self.outages.load(Ordering::Relaxed),
            degraded_decisions: self.degraded_decisions.load(Ordering::Relaxed),
            unavailable_errors: self.unavailable_errors.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::LimitKeys;
    use uuid::Uuid;

    fn guarded(node_count: u32) -> GuardedAdmission {
        let config = LimitsConfig {
            unavailable_policy: UnavailablePolicy::Degraded,
            degraded_node_count: node_count,
            ..LimitsConfig::default()
        };
        let keys = LimitKeys::new("unused").unwrap();
        let redis = RedisAdmission::open("redis://127.0.0.1:1", keys, config.clone()).unwrap();
        GuardedAdmission::new(redis, config)
    }

    #[tokio::test]
    async fn shares_divide_each_limit_by_the_node_count() {
        let g = guarded(3);
        let req = AdmissionRequest {
            token_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
            max_requests: Some(100),
            used: 40,
            token_rpm: Some(60),
            project_rpm: Some(2),
            budget: Some(crate::BudgetAsk {
                project: Some(BudgetLimit {
                    period: "life".into(),
                    resets_at: None,
                    max_tokens: Some(1000),
                    max_cost_nano_usd: None,
                    spent: Spend::new(400, 0),
                }),
                ..Default::default()
            }),
        };
        let share = g.share(&req);
        assert_eq!(share.max_requests, Some(60));
        assert_eq!(share.token_rpm, Some(20));
        assert_eq!(share.project_rpm, Some(1));
        let budget = share.budget.as_ref().unwrap().project.as_ref().unwrap();
        assert_eq!(
            budget.max_tokens,
            Some(600),
            "400 spent, a third of 600 left"
        );

        let spent = AdmissionRequest {
            used: 100,
            token_rpm: Some(0),
            ..req.clone()
        };
        let share = g.share(&spent);
        assert_eq!(share.max_requests, Some(100));
        assert_eq!(share.token_rpm, Some(0));

        let nearly = AdmissionRequest { used: 99, ..req };
        assert_eq!(g.share(&nearly).max_requests, Some(100));
    }
}
