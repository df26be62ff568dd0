//! The lifetime `max_requests`.

use llm_proxy_limits::{AdmissionRequest, QuotaStatus, Verdict};

use super::harness::{count, request};
use super::Harness;

pub async fn quota_is_exact_under_concurrency(h: &Harness) {
    let req = AdmissionRequest {
        max_requests: Some(100),
        ..request()
    };
    let decisions = h.admit_concurrently(&req, 400).await;
    assert_eq!(count(&decisions, Verdict::Admitted), 100);
    assert_eq!(count(&decisions, Verdict::QuotaExceeded), 300);
    // Every admitted request saw a different count: the check and the increment are one step.
    let mut used: Vec<u64> = decisions
        .iter()
        .filter(|d| d.is_admitted())
        .map(|d| d.quota.unwrap().used)
        .collect();
    used.sort_unstable();
    assert_eq!(used, (1..=100).collect::<Vec<_>>());
    for d in decisions.iter().filter(|d| !d.is_admitted()) {
        assert_eq!(
            d.quota,
            Some(QuotaStatus {
                limit: 100,
                used: 100
            })
        );
        assert_eq!(d.retry_after_secs, None, "a spent quota never resets");
        assert!(!d.degraded);
    }
}

/// A restarted node (or a new one) continues from the store's count, not from zero.
pub async fn seeded_count_is_respected(h: &Harness) {
    let req = AdmissionRequest {
        max_requests: Some(10),
        used: 7,
        ..request()
    };
    let mut admitted = 0;
    for i in 0..10 {
        if h.admit_on(i, &req).await.unwrap().is_admitted() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);

    let spent = AdmissionRequest {
        max_requests: Some(10),
        used: 10,
        ..request()
    };
    let d = h.admit(&spent).await;
    assert_eq!(d.verdict, Verdict::QuotaExceeded);
    assert_eq!(d.quota.unwrap().remaining(), 0);
}

/// The counter only ever goes up: a stale (lower) store count does not lower it, a higher one
/// (requests the store knows about that this backend did not count) raises it.
pub async fn store_seed_never_lowers_the_counter(h: &Harness) {
    let req = AdmissionRequest {
        max_requests: Some(20),
        used: 0,
        ..request()
    };
    for i in 0..5 {
        assert!(h.admit_on(i, &req).await.unwrap().is_admitted());
    }
    let d = h.admit(&req).await;
    assert_eq!(
        d.quota.unwrap().used,
        6,
        "a stale seed of 0 did not reset 5"
    );

    let ahead = AdmissionRequest {
        used: 15,
        ..req.clone()
    };
    let d = h.admit(&ahead).await;
    assert_eq!(d.quota.unwrap().used, 16);
    let d = h.admit(&req).await;
    assert_eq!(d.quota.unwrap().used, 17, "the raised counter stays raised");
}
