//! The order of the checks, atomicity across them, and what a decision reports.

use llm_proxy_limits::{AdmissionRequest, Scope, Verdict};
use uuid::Uuid;

use super::harness::{request, PROJECT_LIMITED, TOKEN_LIMITED};
use super::Harness;

pub async fn checks_run_in_order(h: &Harness) {
    let all_spent = AdmissionRequest {
        max_requests: Some(1),
        used: 1,
        token_rpm: Some(0),
        project_rpm: Some(0),
        ..request()
    };
    let d = h.admit(&all_spent).await;
    assert_eq!(d.verdict, Verdict::QuotaExceeded);
    assert_eq!(d.rate, None);

    let rates_spent = AdmissionRequest {
        max_requests: None,
        ..all_spent.clone()
    };
    assert_eq!(h.admit(&rates_spent).await.verdict, TOKEN_LIMITED);

    let project_spent = AdmissionRequest {
        token_rpm: None,
        ..rates_spent
    };
    assert_eq!(h.admit(&project_spent).await.verdict, PROJECT_LIMITED);
}

/// Refused requests use up neither the project's rate nor anything else.
pub async fn rejected_requests_count_nowhere(h: &Harness) {
    let project_id = Uuid::new_v4();
    let in_project = |req: AdmissionRequest| AdmissionRequest {
        project_id,
        project_rpm: Some(4),
        ..req
    };
    // A: quota of 2, then refused five times.
    let a = in_project(AdmissionRequest {
        max_requests: Some(2),
        ..request()
    });
    let decisions = h.admit_all(&h.nodes, vec![a; 7]).await;
    assert_eq!(super::harness::count(&decisions, Verdict::Admitted), 2);
    // B: a rate of 1, then refused five times.
    let b = in_project(AdmissionRequest {
        token_rpm: Some(1),
        ..request()
    });
    let decisions = h.admit_all(&h.nodes, vec![b; 6]).await;
    assert_eq!(super::harness::count(&decisions, Verdict::Admitted), 1);
    assert_eq!(super::harness::count(&decisions, TOKEN_LIMITED), 5);
    // The project has counted 3 of 4: exactly one more for C.
    let c = in_project(request());
    let decisions = h.admit_all(&h.nodes, vec![c; 4]).await;
    assert_eq!(super::harness::count(&decisions, Verdict::Admitted), 1);
    assert_eq!(super::harness::count(&decisions, PROJECT_LIMITED), 3);
}

pub async fn admitted_reports_the_tighter_rate(h: &Harness) {
    let req = AdmissionRequest {
        token_rpm: Some(5),
        project_rpm: Some(100),
        max_requests: Some(3),
        ..request()
    };
    let d = h.admit(&req).await;
    assert!(d.is_admitted());
    let rate = d.rate.unwrap();
    assert_eq!(
        (rate.scope, rate.limit, rate.remaining),
        (Scope::Token, 5, 4)
    );
    assert!(
        (59..=60).contains(&rate.reset_secs),
        "reset {}",
        rate.reset_secs
    );
    assert_eq!(d.quota.unwrap().remaining(), 2);
    assert_eq!(d.retry_after_secs, None);
    let names: Vec<&str> = d.headers().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset"
        ]
    );

    let tight_project = AdmissionRequest {
        token_rpm: Some(100),
        project_rpm: Some(2),
        ..request()
    };
    let rate = h.admit(&tight_project).await.rate.unwrap();
    assert_eq!(
        (rate.scope, rate.limit, rate.remaining),
        (Scope::Project, 2, 1)
    );
}

pub async fn unlimited_requests_pass_without_headers(h: &Harness) {
    let req = request();
    let decisions = h.admit_concurrently(&req, 50).await;
    for d in &decisions {
        assert!(d.is_admitted());
        assert_eq!((d.rate, d.quota, d.retry_after_secs), (None, None, None));
        assert!(d.headers().is_empty());
    }
}
