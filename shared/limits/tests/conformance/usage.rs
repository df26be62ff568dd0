//! What the nodes hand to the store's batched write-back.

use llm_proxy_limits::AdmissionRequest;

use super::harness::request;
use super::Harness;

pub async fn drain_reports_admitted_requests_once(h: &Harness) {
    let a = AdmissionRequest {
        token_rpm: Some(5),
        ..request()
    };
    let b = request();
    let mut reqs = vec![a.clone(); 8];
    reqs.extend(vec![b.clone(); 2]);
    let before = chrono::Utc::now();
    h.admit_all(&h.nodes, reqs).await;

    let drained: Vec<_> = h.nodes.iter().flat_map(|n| n.drain_usage()).collect();
    let total = |id| -> u64 {
        drained
            .iter()
            .filter(|u| u.token_id == id)
            .map(|u| u.requests)
            .sum()
    };
    assert_eq!(total(a.token_id), 5, "only admitted requests are reported");
    assert_eq!(total(b.token_id), 2);
    assert!(drained.iter().all(|u| u.last_used_at >= before));
    assert!(h.nodes.iter().all(|n| n.drain_usage().is_empty()));
}
