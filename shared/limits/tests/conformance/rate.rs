//! Per-token and per-project request rates (sliding window).

use std::time::{Duration, Instant};

use llm_proxy_limits::{AdmissionRequest, Scope, Verdict};

use super::harness::{count, request, short_window, PROJECT_LIMITED, TOKEN_LIMITED};
use super::Harness;

pub async fn token_rate_is_exact_under_concurrency(h: &Harness) {
    let req = AdmissionRequest {
        token_rpm: Some(60),
        ..request()
    };
    let decisions = h.admit_concurrently(&req, 200).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 60);
    assert_eq!(count(&decisions, TOKEN_LIMITED), 140);

    // Each admitted request saw its own remaining count: 59, 58, …, 0.
    let mut remaining: Vec<u32> = decisions
        .iter()
        .filter(|d| d.is_admitted())
        .map(|d| d.rate.unwrap().remaining)
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..60).collect::<Vec<_>>());

    for d in decisions.iter().filter(|d| !d.is_admitted()) {
        let rate = d.rate.unwrap();
        assert_eq!(
            (rate.scope, rate.limit, rate.remaining),
            (Scope::Token, 60, 0)
        );
        let retry = d.retry_after_secs.unwrap();
        assert!((1..=60).contains(&retry), "retry-after {retry}");
        assert!(
            (1..=60).contains(&rate.reset_secs),
            "reset {}",
            rate.reset_secs
        );
        assert!(rate.reset_secs <= retry, "the oldest leaves first");
        assert_eq!(d.quota, None);
    }
}

pub async fn project_rate_is_shared_by_its_tokens(h: &Harness) {
    let project = request();
    let reqs: Vec<AdmissionRequest> = (0..5)
        .flat_map(|_| {
            let token = AdmissionRequest {
                project_rpm: Some(10),
                ..request()
            };
            let token = AdmissionRequest {
                project_id: project.project_id,
                ..token
            };
            std::iter::repeat_n(token, 6)
        })
        .collect();
    let decisions = h.admit_all(&h.nodes, reqs).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 10);
    assert_eq!(count(&decisions, PROJECT_LIMITED), 20);
    for d in decisions.iter().filter(|d| !d.is_admitted()) {
        let rate = d.rate.unwrap();
        assert_eq!(
            (rate.scope, rate.limit, rate.remaining),
            (Scope::Project, 10, 0)
        );
        assert!((1..=60).contains(&d.retry_after_secs.unwrap()));
    }
}

pub async fn limits_of_other_tokens_are_independent(h: &Harness) {
    let a = AdmissionRequest {
        token_rpm: Some(2),
        max_requests: Some(2),
        ..request()
    };
    // Same project, same limits, another token.
    let b = AdmissionRequest {
        token_id: uuid::Uuid::new_v4(),
        ..a.clone()
    };
    let decisions = h.admit_all(&h.nodes, vec![a.clone(); 5]).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 2);
    let decisions = h.admit_all(&h.nodes, vec![b; 5]).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 2);
    // Another project with the same token id: keys are per project.
    let c = AdmissionRequest {
        project_id: uuid::Uuid::new_v4(),
        ..a
    };
    assert!(h.admit(&c).await.is_admitted());
}

/// With a 1 s window: full, then free again once the oldest request leaves; the requests
/// refused meanwhile did not count toward the lifetime quota.
pub async fn window_slides_and_rejections_count_nowhere(h: &Harness) {
    let nodes = h.nodes_with(short_window());
    let req = AdmissionRequest {
        token_rpm: Some(3),
        max_requests: Some(4),
        ..request()
    };
    let decisions = h.admit_all(&nodes, vec![req.clone(); 3]).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 3);

    let refused = nodes[0].admit(&req).await.unwrap();
    assert_eq!(refused.verdict, TOKEN_LIMITED);
    assert_eq!(refused.retry_after_secs, Some(1));

    // Poll (with a deadline) until the window lets one more through; count the refusals.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut refusals = 1;
    let admitted = loop {
        assert!(Instant::now() < deadline, "the window never slid");
        let d = nodes[refusals % nodes.len()].admit(&req).await.unwrap();
        if d.is_admitted() {
            break d;
        }
        assert_eq!(d.verdict, TOKEN_LIMITED);
        refusals += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refusals > 1);
    assert_eq!(
        admitted.quota.unwrap().used,
        4,
        "refusals did not use the quota"
    );

    // Quota comes first now, however the window looks.
    let d = nodes[1 % nodes.len()].admit(&req).await.unwrap();
    assert_eq!(d.verdict, Verdict::QuotaExceeded);
}

pub async fn zero_rate_admits_nothing(h: &Harness) {
    let req = AdmissionRequest {
        token_rpm: Some(0),
        ..request()
    };
    let d = h.admit(&req).await;
    assert_eq!(d.verdict, TOKEN_LIMITED);
    assert_eq!(d.retry_after_secs, Some(60));
    assert_eq!(d.rate.unwrap().remaining, 0);
}
