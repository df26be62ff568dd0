//! Budgets in admission: what a call asks of its project's and token's budgets
//! ([`BudgetAsk`]), what it was given ([`Reservation`], settled with the real usage when the
//! call ends), and what is left ([`BudgetStatus`], for the `x-llm-proxy-budget-*` headers).
//!
//! A budget counter per scope and period holds the period's spend **plus** the outstanding
//! reservations, so concurrent calls can never together pass the budget: each one reserves
//! before it is forwarded, in the same atomic step as the other limits.

use chrono::{DateTime, Utc};
use llm_proxy_core::budget::Spend;
use uuid::Uuid;

use crate::decision::Scope;

/// One scope's budget for the current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetLimit {
    /// Names the period's counter: `2026-11` or `life`.
    pub period: String,
    /// When the period ends (monthly budgets). The counter outlives it by a grace period, so a
    /// call that started before the end settles on the counter it reserved on.
    pub resets_at: Option<DateTime<Utc>>,
    pub max_tokens: Option<u64>,
    pub max_cost_nano_usd: Option<u64>,
    /// What the usage ledger says this period spent; the counter never goes below it (a
    /// restarted node, or a Redis that lost its data, does not forget the spend).
    pub spent: Spend,
}

/// What one call needs of its budgets: its prompt (estimated) and between `min_output` and
/// `max_output` completion tokens; it gets as many as fit, at least `min_output`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BudgetAsk {
    pub project: Option<BudgetLimit>,
    pub token: Option<BudgetLimit>,
    pub prompt_tokens: u64,
    pub prompt_cost_nano_usd: u64,
    pub min_output: u64,
    pub max_output: u64,
    /// The model's output price, to cost the output reserved (0 when unpriced).
    pub output_nanos_per_token: u64,
}

impl BudgetAsk {
    pub fn applies(&self) -> bool {
        self.project.is_some() || self.token.is_some()
    }
}

/// What a call holds of its budgets until it ends: hand it back to
/// [`crate::Admission::settle`] with the real usage (zero when the upstream failed before
/// answering), exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub project_id: Uuid,
    pub token_id: Uuid,
    pub project: Option<BudgetLimit>,
    pub token: Option<BudgetLimit>,
    /// Counted on the budget counters for this call so far.
    pub reserved: Spend,
    /// Output tokens reserved so far (a stream may grow this with `extend`).
    pub output_tokens: u64,
    pub output_nanos_per_token: u64,
    /// Made in this node's memory while Redis was away: settled there too.
    pub(crate) local: bool,
}

impl Reservation {
    /// Tokens and cost of `output` more completion tokens.
    pub(crate) fn output_spend(&self, output: u64) -> Spend {
        Spend::new(output, output.saturating_mul(self.output_nanos_per_token))
    }
}

/// One budget after a decision (for the `x-llm-proxy-budget-*` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    pub scope: Scope,
    pub period: String,
    pub resets_at: Option<DateTime<Utc>>,
    pub max_tokens: Option<u64>,
    pub max_cost_nano_usd: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub remaining_cost_nano_usd: Option<u64>,
}

impl BudgetStatus {
    /// `counter` is spend plus reservations after the decision.
    pub(crate) fn of(scope: Scope, limit: &BudgetLimit, counter: Spend) -> Self {
        Self {
            scope,
            period: limit.period.clone(),
            resets_at: limit.resets_at,
            max_tokens: limit.max_tokens,
            max_cost_nano_usd: limit.max_cost_nano_usd,
            remaining_tokens: limit.max_tokens.map(|m| m.saturating_sub(counter.tokens)),
            remaining_cost_nano_usd: limit
                .max_cost_nano_usd
                .map(|m| m.saturating_sub(counter.cost_nano_usd)),
        }
    }

    /// The tighter of two statuses: fewer tokens left, else less money left.
    pub(crate) fn tighter(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => {
                let key = |s: &Self| {
                    (
                        s.remaining_tokens.unwrap_or(u64::MAX),
                        s.remaining_cost_nano_usd.unwrap_or(u64::MAX),
                    )
                };
                Some(if key(&b) < key(&a) { b } else { a })
            }
            (a, b) => a.or(b),
        }
    }

    /// `x-llm-proxy-budget-scope`, `-period`, `-remaining-tokens`, `-remaining-usd`, `-reset`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            (
                "x-llm-proxy-budget-scope",
                match self.scope {
                    Scope::Token => "token",
                    Scope::Project => "project",
                }
                .to_owned(),
            ),
            (
                "x-llm-proxy-budget-period",
                if self.resets_at.is_some() {
                    self.period.clone()
                } else {
                    "lifetime".to_owned()
                },
            ),
        ];
        if let Some(tokens) = self.remaining_tokens {
            h.push(("x-llm-proxy-budget-remaining-tokens", tokens.to_string()));
        }
        if let Some(nanos) = self.remaining_cost_nano_usd {
            h.push((
                "x-llm-proxy-budget-remaining-usd",
                format!("{:.6}", llm_proxy_core::usage_cost::nanos_to_usd(nanos)),
            ));
        }
        if let Some(at) = self.resets_at {
            h.push((
                "x-llm-proxy-budget-reset",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ));
        }
        h
    }
}

/// Seconds a budget counter lives after it was last touched: a month's until a week after
/// the month ends, a lifetime's `lifetime_ttl`.
pub(crate) fn counter_ttl_secs(limit: &BudgetLimit, lifetime_ttl: u64, now: DateTime<Utc>) -> u64 {
    match limit.resets_at {
        Some(end) => u64::try_from((end - now).num_seconds())
            .unwrap_or(0)
            .saturating_add(7 * 24 * 3600)
            .max(60),
        None => lifetime_ttl.max(60),
    }
}

/// Output tokens that still fit in one budget after `base` more spend, at `per_token` per
/// output token; `None` when not even `base` fits.
pub(crate) fn room(
    limit: &BudgetLimit,
    counter: Spend,
    base: Spend,
    per_token: u64,
) -> Option<u64> {
    let mut room = u64::MAX;
    if let Some(max) = limit.max_tokens {
        let used = counter.tokens.checked_add(base.tokens)?;
        room = room.min(max.checked_sub(used)?);
    }
    if let Some(max) = limit.max_cost_nano_usd {
        let used = counter.cost_nano_usd.checked_add(base.cost_nano_usd)?;
        let left = max.checked_sub(used)?;
        if let Some(affordable) = left.checked_div(per_token) {
            room = room.min(affordable);
        }
    }
    Some(room)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn limit(max_tokens: Option<u64>, max_cost: Option<u64>) -> BudgetLimit {
        BudgetLimit {
            period: "2026-11".into(),
            resets_at: Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()),
            max_tokens,
            max_cost_nano_usd: max_cost,
            spent: Spend::default(),
        }
    }

    #[test]
    fn room_is_the_tighter_of_tokens_and_money() {
        let l = limit(Some(1000), Some(10_000));
        assert_eq!(
            room(&l, Spend::new(100, 0), Spend::new(100, 0), 0),
            Some(800)
        );
        assert_eq!(
            room(&l, Spend::new(0, 4_000), Spend::new(0, 1_000), 10),
            Some(500)
        );
        assert_eq!(room(&l, Spend::new(1000, 0), Spend::new(1, 0), 0), None);
        assert_eq!(
            room(&l, Spend::new(0, 9_000), Spend::new(0, 2_000), 1),
            None
        );
        assert_eq!(
            room(&limit(None, None), Spend::new(5, 5), Spend::default(), 3),
            Some(u64::MAX)
        );
    }

    #[test]
    fn headers_say_what_is_left_and_when_it_resets() {
        let status = BudgetStatus::of(
            Scope::Project,
            &limit(Some(1000), Some(2_500_000_000)),
            Spend::new(400, 1_000_000_000),
        );
        let h = status.headers();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-llm-proxy-budget-scope"), Some("project"));
        assert_eq!(get("x-llm-proxy-budget-period"), Some("2026-11"));
        assert_eq!(get("x-llm-proxy-budget-remaining-tokens"), Some("600"));
        assert_eq!(get("x-llm-proxy-budget-remaining-usd"), Some("1.500000"));
        assert_eq!(
            get("x-llm-proxy-budget-reset"),
            Some("2026-12-01T00:00:00Z")
        );
        let tighter = BudgetStatus::tighter(
            Some(status.clone()),
            Some(BudgetStatus::of(
                Scope::Token,
                &limit(Some(100), None),
                Spend::new(50, 0),
            )),
        )
        .unwrap();
        assert_eq!(tighter.scope, Scope::Token);
    }
}
