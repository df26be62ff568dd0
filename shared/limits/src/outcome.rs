//! The raw result of one atomic check, produced the same way by the Lua script and by the
//! in-memory implementation, and turned into a [`Decision`] in one place.

use llm_proxy_core::budget::Spend;

use crate::budget::{BudgetStatus, Reservation};
use crate::decision::{AdmissionRequest, Decision, QuotaStatus, RateStatus, Scope, Verdict};
use crate::LimitsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Admitted,
    Quota,
    TokenRate,
    ProjectRate,
    TokenBudget,
    ProjectBudget,
}

/// A rate window after the check: how many requests it counts and when the oldest leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowState {
    pub count: u64,
    pub reset_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub status: Status,
    /// The lifetime count after the check (this request included when admitted).
    pub used: u64,
    /// `None` when the token has no rate or the check stopped before it.
    pub token: Option<WindowState>,
    pub project: Option<WindowState>,
    /// For a rate rejection: microseconds until that window admits again.
    pub retry_us: u64,
    /// Output tokens reserved, when admitted with a budget.
    pub granted_output: Option<u64>,
    /// Budget counters (spend plus reservations) after the check; `None` when that scope has
    /// no budget or the check stopped before it.
    pub token_budget: Option<Spend>,
    pub project_budget: Option<Spend>,
}

impl Outcome {
    /// A request that passed or failed before any rate or budget was looked at.
    pub fn bare(status: Status, used: u64) -> Self {
        Self {
            status,
            used,
            token: None,
            project: None,
            retry_us: 0,
            granted_output: None,
            token_budget: None,
            project_budget: None,
        }
    }

    /// Parses the script's answer `{status, used, t_count, t_reset_us, p_count, p_reset_us,
    /// retry_us, granted, tb_tokens, tb_cost, pb_tokens, pb_cost}`, where -1 means "not
    /// evaluated".
    pub fn from_script(values: &[i64]) -> Result<Self, LimitsError> {
        let [status, used, t_count, t_reset, p_count, p_reset, retry, granted, tb_t, tb_c, pb_t, pb_c] =
            values
        else {
            return Err(LimitsError::Protocol(format!(
                "expected 12 integers, got {values:?}"
            )));
        };
        let status = match status {
            0 => Status::Admitted,
            1 => Status::Quota,
            2 => Status::TokenRate,
            3 => Status::ProjectRate,
            4 => Status::TokenBudget,
            5 => Status::ProjectBudget,
            other => return Err(LimitsError::Protocol(format!("unknown status {other}"))),
        };
        let window = |count: i64, reset: i64| {
            u64::try_from(count).ok().map(|count| WindowState {
                count,
                reset_us: non_negative(reset),
            })
        };
        Ok(Self {
            status,
            used: non_negative(*used),
            token: window(*t_count, *t_reset),
            project: window(*p_count, *p_reset),
            retry_us: non_negative(*retry),
            granted_output: u64::try_from(*granted).ok(),
            token_budget: counter(*tb_t, *tb_c),
            project_budget: counter(*pb_t, *pb_c),
        })
    }

    pub fn into_decision(self, req: &AdmissionRequest) -> Decision {
        let token = rate_status(Scope::Token, req.token_rpm, self.token);
        let project = rate_status(Scope::Project, req.project_rpm, self.project);
        let (verdict, rate) = match self.status {
            Status::Admitted => {
                let rate = match (token, project) {
                    (Some(t), Some(p)) if p.remaining < t.remaining => Some(p),
                    (Some(t), _) => Some(t),
                    (None, p) => p,
                };
                (Verdict::Admitted, rate)
            }
            Status::Quota => (Verdict::QuotaExceeded, None),
            Status::TokenRate => (
                Verdict::RateLimited {
                    scope: Scope::Token,
                },
                token,
            ),
            Status::ProjectRate => (
                Verdict::RateLimited {
                    scope: Scope::Project,
                },
                project,
            ),
            Status::TokenBudget => (
                Verdict::BudgetExceeded {
                    scope: Scope::Token,
                },
                None,
            ),
            Status::ProjectBudget => (
                Verdict::BudgetExceeded {
                    scope: Scope::Project,
                },
                None,
            ),
        };
        let (budget, reservation) = self.budget(req);
        let retry_after_secs = match verdict {
            Verdict::RateLimited { .. } => Some(ceil_secs(self.retry_us).max(1)),
            _ => None,
        };
        Decision {
            verdict,
            rate,
            quota: req.max_requests.map(|limit| QuotaStatus {
                limit,
                used: self.used,
            }),
            retry_after_secs,
            degraded: false,
            budget,
            reservation,
        }
    }

    fn budget(&self, req: &AdmissionRequest) -> (Option<BudgetStatus>, Option<Reservation>) {
        let Some(ask) = req.budget.as_ref().filter(|a| a.applies()) else {
            return (None, None);
        };
        let of = |scope, limit: Option<&crate::BudgetLimit>, counter: Option<Spend>| {
            Some(BudgetStatus::of(scope, limit?, counter?))
        };
        let token = of(Scope::Token, ask.token.as_ref(), self.token_budget);
        let project = of(Scope::Project, ask.project.as_ref(), self.project_budget);
        match self.status {
            Status::TokenBudget => (token, None),
            Status::ProjectBudget => (project, None),
            Status::Admitted => {
                let output = self.granted_output.unwrap_or(0);
                let reservation = Reservation {
                    project_id: req.project_id,
                    token_id: req.token_id,
                    project: ask.project.clone(),
                    token: ask.token.clone(),
                    reserved: Spend::new(
                        ask.prompt_tokens.saturating_add(output),
                        ask.prompt_cost_nano_usd
                            .saturating_add(output.saturating_mul(ask.output_nanos_per_token)),
                    ),
                    output_tokens: output,
                    output_nanos_per_token: ask.output_nanos_per_token,
                    local: false,
                };
                (BudgetStatus::tighter(token, project), Some(reservation))
            }
            _ => (None, None),
        }
    }
}

fn counter(tokens: i64, cost: i64) -> Option<Spend> {
    Some(Spend::new(
        u64::try_from(tokens).ok()?,
        u64::try_from(cost).ok()?,
    ))
}

fn rate_status(
    scope: Scope,
    limit: Option<u32>,
    window: Option<WindowState>,
) -> Option<RateStatus> {
    let (limit, window) = (limit?, window?);
    let remaining = u64::from(limit).saturating_sub(window.count);
    Some(RateStatus {
        scope,
        limit,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_secs: ceil_secs(window.reset_us),
    })
}

pub(crate) fn ceil_secs(us: u64) -> u64 {
    us.div_ceil(1_000_000)
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use uuid::Uuid;

    fn req() -> AdmissionRequest {
        AdmissionRequest {
            token_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
            max_requests: Some(10),
            used: 0,
            token_rpm: Some(5),
            project_rpm: Some(3),
            budget: None,
        }
    }

    #[test]
    fn admitted_reports_the_tighter_rate() {
        let o = Outcome::from_script(&[0, 4, 2, 59_000_001, 2, 1_500_000, 0, -1, -1, -1, -1, -1])
            .unwrap();
        let d = o.into_decision(&req());
        assert_eq!(d.verdict, Verdict::Admitted);
        let rate = d.rate.unwrap();
        assert_eq!(
            (rate.scope, rate.limit, rate.remaining),
            (Scope::Project, 3, 1)
        );
        assert_eq!(rate.reset_secs, 2);
        assert_eq!(d.quota, Some(QuotaStatus { limit: 10, used: 4 }));
        assert_eq!(d.retry_after_secs, None);
    }

    #[test]
    fn rate_limited_carries_retry_after_of_at_least_one_second() {
        let o = Outcome::from_script(&[2, 4, 5, 10, -1, 0, 10, -1, -1, -1, -1, -1]).unwrap();
        let d = o.into_decision(&req());
        assert_eq!(
            d.verdict,
            Verdict::RateLimited {
                scope: Scope::Token
            }
        );
        assert_eq!(d.retry_after_secs, Some(1));
        assert_eq!(d.rate.unwrap().remaining, 0);
    }

    #[test]
    fn malformed_answers_are_protocol_errors() {
        assert!(matches!(
            Outcome::from_script(&[0, 1]),
            Err(LimitsError::Protocol(_))
        ));
        assert!(matches!(
            Outcome::from_script(&[9, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1]),
            Err(LimitsError::Protocol(_))
        ));
    }

    #[test]
    fn budget_answers_become_a_status_and_a_reservation() {
        let limit = crate::BudgetLimit {
            period: "life".into(),
            resets_at: None,
            max_tokens: Some(1000),
            max_cost_nano_usd: None,
            spent: Spend::default(),
        };
        let mut r = req();
        r.budget = Some(crate::BudgetAsk {
            project: Some(limit.clone()),
            token: None,
            prompt_tokens: 30,
            prompt_cost_nano_usd: 300,
            min_output: 1,
            max_output: 100,
            output_nanos_per_token: 2,
        });
        let admitted =
            Outcome::from_script(&[0, 1, -1, 0, -1, 0, 0, 70, -1, -1, 600, 440]).unwrap();
        let d = admitted.into_decision(&r);
        let res = d.reservation.unwrap();
        assert_eq!(res.reserved, Spend::new(100, 440));
        assert_eq!(res.output_tokens, 70);
        let status = d.budget.unwrap();
        assert_eq!(
            (status.scope, status.remaining_tokens),
            (Scope::Project, Some(400))
        );

        let refused = Outcome::from_script(&[5, 0, -1, 0, -1, 0, 0, -1, -1, -1, 990, 0]).unwrap();
        let d = refused.into_decision(&r);
        assert_eq!(
            d.verdict,
            Verdict::BudgetExceeded {
                scope: Scope::Project
            }
        );
        assert_eq!(d.budget.unwrap().remaining_tokens, Some(10));
        assert!(d.reservation.is_none());
    }
}
