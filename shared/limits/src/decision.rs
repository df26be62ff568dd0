//! What the proxy asks ([`AdmissionRequest`]) and what it is told ([`Decision`]).

use uuid::Uuid;

use crate::budget::{BudgetAsk, BudgetStatus, Reservation};

/// One request to admit, with the limits from the token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionRequest {
    pub token_id: Uuid,
    pub project_id: Uuid,
    /// The token's lifetime cap; `None` is unlimited.
    pub max_requests: Option<u64>,
    /// The token's `request_count` in the store when the proxy cached it. The shared counter
    /// never goes below it, so a restarted node (or a Redis that lost its data) does not reset
    /// the lifetime count.
    pub used: u64,
    /// The token's `rate_limit_rpm`; `None` is unlimited, `Some(0)` admits nothing.
    pub token_rpm: Option<u32>,
    /// The project's `rate_limit_rpm`, shared by all its tokens.
    pub project_rpm: Option<u32>,
    /// The project's and the token's budgets and what this call needs of them; `None` when
    /// neither has a budget.
    pub budget: Option<BudgetAsk>,
}

/// Which request rate said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Token,
    Project,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admitted,
    /// The lifetime `max_requests` is used up (429 `quota_exceeded`; it never resets).
    QuotaExceeded,
    /// A request rate is exhausted (429 `rate_limit_exceeded` with `Retry-After`).
    RateLimited {
        scope: Scope,
    },
    /// A budget cannot fit this call (429 `budget_exceeded`).
    BudgetExceeded {
        scope: Scope,
    },
}

/// One request rate after this decision (for `x-ratelimit-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    pub scope: Scope,
    /// Requests per window (`x-ratelimit-limit`).
    pub limit: u32,
    /// Requests still admitted in the current window (`x-ratelimit-remaining`).
    pub remaining: u32,
    /// Seconds until the oldest counted request leaves the window and `remaining` grows
    /// (`x-ratelimit-reset`); 0 when nothing is counted.
    pub reset_secs: u64,
}

/// The lifetime quota after this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaStatus {
    pub limit: u64,
    /// Requests counted so far, this one included when admitted.
    pub used: u64,
}

impl QuotaStatus {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// For `RateLimited`, the rate that said no; when admitted, the tighter of the rates that
    /// apply (fewest remaining); `None` when no rate applies (or the quota said no first).
    pub rate: Option<RateStatus>,
    /// `None` when the token has no `max_requests`.
    pub quota: Option<QuotaStatus>,
    /// Whole seconds (at least 1) until a retry can be admitted; only for `RateLimited`.
    pub retry_after_secs: Option<u64>,
    /// Decided by this node alone while Redis is unavailable (`x-llm-proxy-degraded: 1`).
    pub degraded: bool,
    /// For `BudgetExceeded`, the budget that said no; when admitted, the tighter one.
    pub budget: Option<BudgetStatus>,
    /// What an admitted call holds of its budgets: settle it when the call ends.
    pub reservation: Option<Reservation>,
}

impl Decision {
    pub fn is_admitted(&self) -> bool {
        self.verdict == Verdict::Admitted
    }

    /// The response headers this decision asks for, lower-case names: `retry-after`,
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset`,
    /// `x-llm-proxy-degraded`, and the `x-llm-proxy-budget-*` of [`BudgetStatus::headers`].
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(5);
        if let Some(budget) = &self.budget {
            headers.extend(budget.headers());
        }
        if let Some(secs) = self.retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        if let Some(rate) = &self.rate {
            headers.push(("x-ratelimit-limit", rate.limit.to_string()));
            headers.push(("x-ratelimit-remaining", rate.remaining.to_string()));
            headers.push(("x-ratelimit-reset", rate.reset_secs.to_string()));
        }
        if self.degraded {
            headers.push(("x-llm-proxy-degraded", "1".to_owned()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_a_rate_limited_degraded_decision() {
        let d = Decision {
            verdict: Verdict::RateLimited {
                scope: Scope::Project,
            },
            rate: Some(RateStatus {
                scope: Scope::Project,
                limit: 20,
                remaining: 0,
                reset_secs: 7,
            }),
            quota: Some(QuotaStatus { limit: 5, used: 9 }),
            retry_after_secs: Some(7),
            degraded: true,
            budget: None,
            reservation: None,
        };
        assert!(!d.is_admitted());
        assert_eq!(d.quota.map(|q| q.remaining()), Some(0));
        let headers = d.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("retry-after"), Some("7"));
        assert_eq!(get("x-ratelimit-limit"), Some("20"));
        assert_eq!(get("x-ratelimit-remaining"), Some("0"));
        assert_eq!(get("x-ratelimit-reset"), Some("7"));
        assert_eq!(get("x-llm-proxy-degraded"), Some("1"));
    }

    #[test]
    fn an_unlimited_admission_asks_for_no_headers() {
        let d = Decision {
            verdict: Verdict::Admitted,
            rate: None,
            quota: None,
            retry_after_secs: None,
            degraded: false,
            budget: None,
            reservation: None,
        };
        assert!(d.is_admitted());
        assert!(d.headers().is_empty());
    }
}
