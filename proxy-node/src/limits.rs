//! Admission on the request path: one [`Admission::admit`] per request (quota, budgets, token
//! rate, project rate, one atomic operation), and its decision as HTTP: 429 `quota_exceeded`,
//! `budget_exceeded` or `rate_limit_exceeded`, 503 `limits_unavailable`, and the decision's
//! headers (`Retry-After`, `x-ratelimit-*`, `x-llm-proxy-budget-*`, `x-llm-proxy-degraded`) on
//! the refusal or on the admitted upstream answer.

use actix_web::http::header::{HeaderName, HeaderValue};
use llm_proxy_core::usage_cost::nanos_to_usd;
use llm_proxy_core::ErrorCode;
use llm_proxy_limits::{
    Admission, BudgetAsk, BudgetStatus, Decision, LimitsError, Reservation, Scope, Verdict,
};
use llm_proxy_platform::ApiError;

use crate::admission::Grant;
use crate::metrics::Metrics;

pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// An admitted call: the headers for the upstream's answer, and what it holds of its budgets
/// (settle it when the call ends).
#[derive(Debug)]
pub struct Admitted {
    pub headers: Headers,
    pub reservation: Option<Reservation>,
}

/// Admits and counts one request, reserving `budget` when the token or its project has one.
pub async fn admit(
    admission: &dyn Admission,
    metrics: &Metrics,
    grant: &Grant,
    budget: Option<BudgetAsk>,
) -> Result<Admitted, ApiError> {
    let outcome = admission.admit(&grant.admission_request(budget)).await;
    let reservation = outcome.as_ref().ok().and_then(|d| d.reservation.clone());
    match to_http(outcome) {
        Ok(headers) => Ok(Admitted {
            headers,
            reservation,
        }),
        Err((reason, error)) => {
            metrics.admission_refused(reason);
            Err(error)
        }
    }
}

/// The decision as headers or as an error, with the metric reason of a refusal.
pub fn to_http(
    outcome: Result<Decision, LimitsError>,
) -> Result<Headers, (&'static str, ApiError)> {
    let decision = match outcome {
        Ok(decision) => decision,
        Err(LimitsError::Unavailable(cause)) => {
            tracing::debug!(%cause, "admission unavailable");
            return Err(("limits_unavailable", ErrorCode::LimitsUnavailable.into()));
        }
        Err(other) => return Err(("internal", ApiError::internal(other))),
    };
    let headers = headers(&decision);
    let (reason, mut error) = match decision.verdict {
        Verdict::Admitted => return Ok(headers),
        Verdict::QuotaExceeded => ("quota_exceeded", ApiError::from(ErrorCode::QuotaExceeded)),
        Verdict::RateLimited { scope } => {
            let (reason, whose) = match scope {
                Scope::Token => ("token_rate", "token"),
                Scope::Project => ("project_rate", "project"),
            };
            let message = match decision.rate {
                Some(rate) => format!(
                    "Rate limit exceeded: this {whose} allows {} requests per minute.",
                    rate.limit
                ),
                None => format!("Rate limit exceeded for this {whose}."),
            };
            (reason, ApiError::new(ErrorCode::RateLimitExceeded, message))
        }
        Verdict::BudgetExceeded { scope } => {
            let (reason, whose) = match scope {
                Scope::Token => ("token_budget", "token"),
                Scope::Project => ("project_budget", "project"),
            };
            let left = decision
                .budget
                .as_ref()
                .map(budget_left)
                .unwrap_or_default();
            let message = format!("This {whose}'s budget cannot fit this request{left}.");
            (reason, ApiError::new(ErrorCode::BudgetExceeded, message))
        }
    };
    error.headers.extend(headers);
    Err((reason, error))
}

/// `: 120 tokens and $0.50 left this period` (what the budget still has).
fn budget_left(status: &BudgetStatus) -> String {
    let mut parts = Vec::new();
    if let Some(tokens) = status.remaining_tokens {
        parts.push(format!("{tokens} tokens"));
    }
    if let Some(nanos) = status.remaining_cost_nano_usd {
        parts.push(format!("${:.2}", nanos_to_usd(nanos)));
    }
    if parts.is_empty() {
        return String::new();
    }
    let period = if status.resets_at.is_some() {
        "this month"
    } else {
        "in its lifetime"
    };
    format!(": {} left {period}", parts.join(" and "))
}

fn headers(decision: &Decision) -> Headers {
    decision
        .headers()
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use llm_proxy_limits::{QuotaStatus, RateStatus};

    use super::*;

    fn decision(verdict: Verdict, rate: Option<RateStatus>, retry: Option<u64>) -> Decision {
        Decision {
            verdict,
            rate,
            quota: Some(QuotaStatus { limit: 5, used: 5 }),
            retry_after_secs: retry,
            degraded: false,
            budget: None,
            reservation: None,
        }
    }

    fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    const PROJECT_RATE: RateStatus = RateStatus {
        scope: Scope::Project,
        limit: 10,
        remaining: 0,
        reset_secs: 12,
    };

    #[test]
    fn admitted_answers_carry_the_rate_headers() {
        let mut d = decision(Verdict::Admitted, Some(PROJECT_RATE), None);
        d.degraded = true;
        let headers = to_http(Ok(d)).unwrap();
        assert_eq!(get(&headers, "x-ratelimit-limit"), Some("10"));
        assert_eq!(get(&headers, "x-ratelimit-remaining"), Some("0"));
        assert_eq!(get(&headers, "x-ratelimit-reset"), Some("12"));
        assert_eq!(get(&headers, "x-llm-proxy-degraded"), Some("1"));
        assert_eq!(get(&headers, "retry-after"), None);
    }

    #[test]
    fn refusals_map_to_codes_and_keep_the_headers() {
        let limited = Verdict::RateLimited {
            scope: Scope::Project,
        };
        let (reason, error) =
            to_http(Ok(decision(limited, Some(PROJECT_RATE), Some(12)))).unwrap_err();
        assert_eq!(reason, "project_rate");
        assert_eq!(error.code, ErrorCode::RateLimitExceeded);
        assert!(error
            .message
            .contains("project allows 10 requests per minute"));
        assert_eq!(get(&error.headers, "retry-after"), Some("12"));
        assert_eq!(get(&error.headers, "x-ratelimit-limit"), Some("10"));

        let (reason, error) =
            to_http(Ok(decision(Verdict::QuotaExceeded, None, None))).unwrap_err();
        assert_eq!(reason, "quota_exceeded");
        assert_eq!(error.code, ErrorCode::QuotaExceeded);
        assert!(error.headers.is_empty());

        let (reason, error) = to_http(Err(LimitsError::Unavailable("down".into()))).unwrap_err();
        assert_eq!(reason, "limits_unavailable");
        assert_eq!(error.code, ErrorCode::LimitsUnavailable);
        assert_eq!(error.code.status(), 503);

        let (_, error) = to_http(Err(LimitsError::Protocol("?".into()))).unwrap_err();
        assert_eq!(error.code, ErrorCode::InternalError);
    }

    #[test]
    fn a_budget_refusal_says_what_is_left_in_its_headers() {
        let mut d = decision(
            Verdict::BudgetExceeded {
                scope: Scope::Project,
            },
            None,
            None,
        );
        d.budget = Some(BudgetStatus {
            scope: Scope::Project,
            period: "2026-11".into(),
            resets_at: Some(chrono::Utc::now()),
            max_tokens: Some(1000),
            max_cost_nano_usd: Some(5_000_000_000),
            remaining_tokens: Some(120),
            remaining_cost_nano_usd: Some(500_000_000),
        });
        let (reason, error) = to_http(Ok(d)).unwrap_err();
        assert_eq!(reason, "project_budget");
        assert_eq!(error.code, ErrorCode::BudgetExceeded);
        assert_eq!(error.code.status(), 429);
        assert!(
            error
                .message
                .contains("120 tokens and $0.50 left this month"),
            "{}",
            error.message
        );
        assert_eq!(
            get(&error.headers, "x-llm-proxy-budget-remaining-tokens"),
            Some("120")
        );
        assert_eq!(
            get(&error.headers, "x-llm-proxy-budget-remaining-usd"),
            Some("0.500000")
        );
        assert_eq!(
            get(&error.headers, "x-llm-proxy-budget-scope"),
            Some("project")
        );
    }
}
