//! The raw result of one atomic check, produced the same way by the Lua script and by the
//! in-memory implementation, and turned into a [`Decision`] in one place.

use crate::decision::{AdmissionRequest, Decision, QuotaStatus, RateStatus, Scope, Verdict};
use crate::LimitsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Admitted,
    Quota,
    TokenRate,
    ProjectRate,
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
}

impl Outcome {
    /// Parses the script's answer `{status, used, t_count, t_reset_us, p_count, p_reset_us,
    /// retry_us}`, where a count of -1 means "not evaluated".
    pub fn from_script(values: &[i64]) -> Result<Self, LimitsError> {
        let [status, used, t_count, t_reset, p_count, p_reset, retry] = values else {
            return Err(LimitsError::Protocol(format!(
                "expected 7 integers, got {values:?}"
            )));
        };
        let status = match status {
            0 => Status::Admitted,
            1 => Status::Quota,
            2 => Status::TokenRate,
            3 => Status::ProjectRate,
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
        };
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
        }
    }
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
        }
    }

    #[test]
    fn admitted_reports_the_tighter_rate() {
        let o = Outcome::from_script(&[0, 4, 2, 59_000_001, 2, 1_500_000, 0]).unwrap();
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
        let o = Outcome::from_script(&[2, 4, 5, 10, -1, 0, 10]).unwrap();
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
            Outcome::from_script(&[9, 0, 0, 0, 0, 0, 0]),
            Err(LimitsError::Protocol(_))
        ));
    }
}
