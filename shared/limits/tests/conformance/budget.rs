//! Budgets: reservations are exact under concurrency, settle with the real usage, refund failed
//! calls, grow for streams until the budget is spent, start from the ledger's spend, and keep
//! token, project, cost and period apart.

use chrono::{TimeZone, Utc};
use llm_proxy_core::budget::Spend;
use llm_proxy_limits::{AdmissionRequest, BudgetAsk, BudgetLimit, Decision, Scope, Verdict};
use uuid::Uuid;

use super::harness::{count, request};
use super::Harness;

const PROJECT_BUDGET: Verdict = Verdict::BudgetExceeded {
    scope: Scope::Project,
};
const TOKEN_BUDGET: Verdict = Verdict::BudgetExceeded {
    scope: Scope::Token,
};

fn tokens(max: u64) -> BudgetLimit {
    BudgetLimit {
        period: "2026-11".into(),
        resets_at: Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()),
        max_tokens: Some(max),
        max_cost_nano_usd: None,
        spent: Spend::default(),
    }
}

/// A call of `prompt` tokens asking for exactly `output` more.
fn ask(
    project: Option<BudgetLimit>,
    token: Option<BudgetLimit>,
    prompt: u64,
    output: u64,
) -> BudgetAsk {
    BudgetAsk {
        project,
        token,
        prompt_tokens: prompt,
        prompt_cost_nano_usd: 0,
        min_output: output,
        max_output: output,
        output_nanos_per_token: 0,
    }
}

fn with_budget(base: AdmissionRequest, budget: BudgetAsk) -> AdmissionRequest {
    AdmissionRequest {
        budget: Some(budget),
        ..base
    }
}

fn reserved(d: &Decision) -> Spend {
    d.reservation
        .as_ref()
        .map(|r| r.reserved)
        .unwrap_or_default()
}

/// 200 calls at once against a budget that fits 50: exactly 50 admitted; settling them with
/// less than reserved gives the difference back.
pub async fn budget_admits_exactly_what_fits_under_concurrency(h: &Harness) {
    let req = with_budget(request(), ask(Some(tokens(5_000)), None, 60, 40));
    let decisions = h.admit_concurrently(&req, 200).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 50);
    assert_eq!(count(&decisions, PROJECT_BUDGET), 150);
    let mut remaining: Vec<u64> = decisions
        .iter()
        .filter(|d| d.is_admitted())
        .map(|d| d.budget.as_ref().unwrap().remaining_tokens.unwrap())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..50).map(|i| i * 100).collect::<Vec<_>>());
    for d in decisions.iter().filter(|d| !d.is_admitted()) {
        let status = d.budget.as_ref().unwrap();
        assert_eq!(
            (status.scope, status.remaining_tokens),
            (Scope::Project, Some(0))
        );
        assert!(d.reservation.is_none());
        assert!(d
            .headers()
            .iter()
            .any(|(n, _)| *n == "x-llm-proxy-budget-remaining-tokens"));
    }

    // Each call used 70 of its 100: 50 × 30 = 1500 come back, room for 15 more.
    for (i, d) in decisions.iter().filter(|d| d.is_admitted()).enumerate() {
        let res = d.reservation.as_ref().unwrap();
        assert_eq!(res.reserved, Spend::new(100, 0));
        h.nodes[i % h.nodes.len()]
            .settle(res, Spend::new(70, 0))
            .await
            .unwrap();
    }
    let again = h.admit_concurrently(&req, 40).await;
    assert_eq!(count(&again, Verdict::Admitted), 15);
}

/// A call whose upstream failed before answering costs nothing.
pub async fn failed_calls_are_refunded(h: &Harness) {
    let req = with_budget(request(), ask(Some(tokens(100)), None, 50, 50));
    let first = h.admit(&req).await;
    assert!(first.is_admitted());
    assert_eq!(h.admit(&req).await.verdict, PROJECT_BUDGET);
    h.nodes[1 % h.nodes.len()]
        .settle(first.reservation.as_ref().unwrap(), Spend::default())
        .await
        .unwrap();
    let after = h.admit(&req).await;
    assert!(after.is_admitted(), "the refund made room again");
    assert_eq!(after.budget.unwrap().remaining_tokens, Some(0));
}

/// A call naming no output limit gets as much as fits (at least its minimum); a stream grows
/// its reservation step by step and is told when the budget is spent.
pub async fn streams_extend_until_the_budget_is_spent(h: &Harness) {
    let budget = BudgetAsk {
        min_output: 1,
        max_output: 200,
        ..ask(Some(tokens(1_000)), None, 100, 0)
    };
    let req = with_budget(request(), budget);
    let d = h.admit(&req).await;
    let mut res = d.reservation.clone().unwrap();
    assert_eq!((res.reserved, res.output_tokens), (Spend::new(300, 0), 200));
    let mut steps = 0;
    let node = &h.nodes[h.nodes.len() - 1];
    while let Some(granted) = node.extend(&mut res, 1, 150).await.unwrap() {
        assert!(granted >= 1);
        steps += 1;
        assert!(steps < 10);
    }
    assert_eq!(
        res.reserved,
        Spend::new(1_000, 0),
        "extensions use up exactly the rest"
    );
    assert_eq!(res.output_tokens, 900);
    assert_eq!(steps, 5, "150 × 4 + 100");
    assert_eq!(h.admit(&req).await.verdict, PROJECT_BUDGET);

    // The stream was cut at 950 tokens in all: 50 come back.
    node.settle(&res, Spend::new(950, 0)).await.unwrap();
    let fifty = AdmissionRequest {
        budget: Some(ask(Some(tokens(1_000)), None, 50, 0)),
        ..req.clone()
    };
    assert!(h.admit(&fifty).await.is_admitted());
    assert_eq!(h.admit(&fifty).await.verdict, PROJECT_BUDGET);
}

/// The counter starts from what the ledger says this period spent (a restarted node, a Redis
/// that lost its data), and never goes below it.
pub async fn the_ledger_spend_is_the_floor(h: &Harness) {
    let mut limit = tokens(1_000);
    limit.spent = Spend::new(950, 0);
    let big = with_budget(request(), ask(Some(limit.clone()), None, 60, 40));
    assert_eq!(h.admit(&big).await.verdict, PROJECT_BUDGET);
    let small = AdmissionRequest {
        budget: Some(ask(Some(limit.clone()), None, 30, 20)),
        ..big.clone()
    };
    let d = h.admit(&small).await;
    assert!(d.is_admitted());
    assert_eq!(d.budget.unwrap().remaining_tokens, Some(0));
    // A stale (lower) seed does not lower the counter.
    limit.spent = Spend::default();
    let stale = AdmissionRequest {
        budget: Some(ask(Some(limit), None, 1, 0)),
        ..big
    };
    assert_eq!(h.admit(&stale).await.verdict, PROJECT_BUDGET);
}

/// The token's budget and the project's both apply; the tighter one says no, and a refused
/// call reserves nothing anywhere.
pub async fn token_and_project_budgets_both_apply(h: &Harness) {
    let project_id = Uuid::new_v4();
    let a = AdmissionRequest {
        project_id,
        ..with_budget(
            request(),
            ask(Some(tokens(1_000)), Some(tokens(150)), 50, 50),
        )
    };
    assert!(h.admit(&a).await.is_admitted());
    let d = h.admit(&a).await;
    assert_eq!(d.verdict, TOKEN_BUDGET);
    assert_eq!(d.budget.as_ref().unwrap().remaining_tokens, Some(50));
    assert_eq!(reserved(&d), Spend::default());
    // Another token of the project still has the project's 900.
    let b = AdmissionRequest {
        token_id: Uuid::new_v4(),
        budget: Some(ask(Some(tokens(1_000)), None, 400, 500)),
        ..a.clone()
    };
    let d = h.admit(&b).await;
    assert!(d.is_admitted());
    let status = d.budget.unwrap();
    assert_eq!(
        (status.scope, status.remaining_tokens),
        (Scope::Project, Some(0))
    );
    // A rate-limited call reserves nothing either.
    let limited = AdmissionRequest {
        token_id: Uuid::new_v4(),
        token_rpm: Some(0),
        budget: Some(ask(Some(tokens(2_000)), None, 1, 0)),
        ..a
    };
    assert_eq!(
        h.admit(&limited).await.verdict,
        Verdict::RateLimited {
            scope: Scope::Token
        }
    );
    let probe = AdmissionRequest {
        token_rpm: None,
        budget: Some(ask(Some(tokens(2_000)), None, 1_000, 0)),
        ..limited
    };
    assert!(
        h.admit(&probe).await.is_admitted(),
        "the refused call left 1000 free"
    );
}

/// Cost budgets in nano-dollars, exact even at amounts past what a double prints without an
/// exponent; output is granted only as far as the money goes.
pub async fn cost_budgets_are_exact(h: &Harness) {
    let limit = BudgetLimit {
        period: "life".into(),
        resets_at: None,
        max_tokens: None,
        max_cost_nano_usd: Some(5_000_000_000_000_123),
        spent: Spend::new(0, 4_999_999_999_990_000),
    };
    let req = with_budget(
        request(),
        BudgetAsk {
            prompt_tokens: 10,
            prompt_cost_nano_usd: 3_000,
            min_output: 100,
            max_output: 10_000,
            output_nanos_per_token: 7,
            ..ask(Some(limit), None, 0, 0)
        },
    );
    let d = h.admit(&req).await;
    assert!(d.is_admitted());
    let res = d.reservation.clone().unwrap();
    // 10_123 left: 3_000 for the prompt, 7_123 / 7 = 1_017 output tokens.
    assert_eq!(res.output_tokens, 1_017);
    assert_eq!(res.reserved, Spend::new(1_027, 3_000 + 7_119));
    assert_eq!(d.budget.unwrap().remaining_cost_nano_usd, Some(4));
    assert_eq!(h.admit(&req).await.verdict, PROJECT_BUDGET);
    h.nodes[0]
        .settle(&res, Spend::new(20, 3_070))
        .await
        .unwrap();
    // 10_123 - 3_070 = 7_053 left: the prompt's 3_000 and (7_053 - 3_000) / 7 = 579 tokens.
    let left = h.admit(&req).await;
    assert_eq!(left.reservation.as_ref().unwrap().output_tokens, 579);
    assert_eq!(
        left.budget.unwrap().remaining_cost_nano_usd,
        Some(0),
        "exact to the nano-dollar"
    );
}

/// Each period has its own counter: last month's spend does not count this month.
pub async fn periods_are_counted_apart(h: &Harness) {
    let november = with_budget(request(), ask(Some(tokens(100)), None, 100, 0));
    assert!(h.admit(&november).await.is_admitted());
    assert_eq!(h.admit(&november).await.verdict, PROJECT_BUDGET);
    let mut next = tokens(100);
    next.period = "2026-12".into();
    let december = AdmissionRequest {
        budget: Some(ask(Some(next), None, 100, 0)),
        ..november
    };
    assert!(h.admit(&december).await.is_admitted());
}
