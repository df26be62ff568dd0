//! The hourly usage ledger.

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use llm_proxy_store::{UsageFilter, UsageRecord, UsageRow};
use uuid::Uuid;

use super::harness::Harness;

fn record(project_id: Uuid, token_id: Option<Uuid>, at: DateTime<Utc>) -> UsageRecord {
    UsageRecord {
        event_id: Uuid::now_v7(),
        occurred_at: at,
        project_id,
        token_id,
        provider: "openai".to_owned(),
        model: Some("gpt-4o-mini".to_owned()),
        is_error: false,
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 2,
    }
}

fn row(project_id: Uuid, token_id: Option<Uuid>, requests: u64, errors: u64) -> UsageRow {
    UsageRow {
        project_id,
        token_id,
        requests,
        errors,
        prompt_tokens: 10 * requests,
        completion_tokens: 5 * requests,
        cached_tokens: 2 * requests,
    }
}

pub async fn usage_same_event_counts_once(h: &Harness) {
    let p = Uuid::new_v4();
    let t = Uuid::new_v4();
    let now = Utc::now();
    let first = record(p, Some(t), now);
    let mut failed = record(p, Some(t), now);
    failed.is_error = true;
    // A duplicate inside one batch, then the whole batch redelivered.
    h.store
        .record_usage(&[first.clone(), first.clone(), failed.clone()])
        .await
        .unwrap();
    h.store
        .record_usage(&[first.clone(), failed])
        .await
        .unwrap();
    let summary = h
        .store
        .usage_summary(&UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(summary, [row(p, Some(t), 2, 1)]);

    // A new event in the same hour adds to the same bucket.
    h.store
        .record_usage(&[record(p, Some(t), now)])
        .await
        .unwrap();
    let summary = h
        .store
        .usage_summary(&UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(summary, [row(p, Some(t), 3, 1)]);
    h.store.record_usage(&[]).await.unwrap();
}

pub async fn usage_groups_by_project_and_token(h: &Harness) {
    let (p1, p2) = (Uuid::new_v4(), Uuid::new_v4());
    let t1 = Uuid::new_v4();
    let now = Utc::now();
    let mut other_model = record(p1, Some(t1), now);
    other_model.model = None;
    other_model.provider = "anthropic".to_owned();
    h.store
        .record_usage(&[
            record(p1, Some(t1), now),
            other_model,
            record(p1, Some(t1), now - Duration::hours(5)),
            record(p1, None, now),
            record(p2, None, now),
        ])
        .await
        .unwrap();
    let mut expected = vec![
        row(p1, Some(t1), 3, 0),
        row(p1, None, 1, 0),
        row(p2, None, 1, 0),
    ];
    expected.sort_by_key(|r| (r.project_id, r.token_id.unwrap_or(Uuid::nil())));
    let all = h
        .store
        .usage_summary(&UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(all, expected);

    let of_p1 = h
        .store
        .usage_summary(&UsageFilter {
            project_id: Some(p1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_p1.len(), 2);
    let of_t1 = h
        .store
        .usage_summary(&UsageFilter {
            token_id: Some(t1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_t1, [row(p1, Some(t1), 3, 0)]);
}

pub async fn usage_window_filters(h: &Harness) {
    let p = Uuid::new_v4();
    let base = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - Duration::hours(10);
    h.store
        .record_usage(&[
            record(p, None, base + Duration::minutes(10)),
            record(p, None, base + Duration::minutes(65)),
            record(p, None, base + Duration::minutes(70)),
            record(p, None, base + Duration::hours(3)),
        ])
        .await
        .unwrap();
    let window = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| async move {
        h.store
            .usage_summary(&UsageFilter {
                project_id: Some(p),
                since,
                until,
                ..Default::default()
            })
            .await
            .unwrap()
            .first()
            .map_or(0, |r| r.requests)
    };
    assert_eq!(window(None, None).await, 4);
    // Buckets are hourly: one counts when its hour overlaps [since, until).
    assert_eq!(window(Some(base + Duration::minutes(90)), None).await, 3);
    assert_eq!(window(Some(base + Duration::hours(2)), None).await, 1);
    assert_eq!(window(None, Some(base + Duration::hours(1))).await, 1);
    assert_eq!(
        window(
            Some(base + Duration::minutes(90)),
            Some(base + Duration::hours(3))
        )
        .await,
        2
    );
    assert_eq!(
        window(
            Some(base - Duration::hours(5)),
            Some(base - Duration::hours(1))
        )
        .await,
        0
    );
}

/// The same batch delivered to two consumers at once still counts once.
pub async fn usage_concurrent_redelivery_counts_once(h: &Harness) {
    let p = Uuid::new_v4();
    let batch: Vec<UsageRecord> = (0..50).map(|_| record(p, None, Utc::now())).collect();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = h.store.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store.record_usage(&batch).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let summary = h
        .store
        .usage_summary(&UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(summary, [row(p, None, 50, 0)]);
}
