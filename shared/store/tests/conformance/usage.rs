//! The hourly usage ledger.

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use llm_proxy_store::{Granularity, UsageFilter, UsageRecord, UsageRow};
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
        cost_nano_usd: 1_500,
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
        cost_nano_usd: 1_500 * requests,
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
    let counted = h
        .store
        .record_usage(&[first.clone(), first.clone(), failed.clone()])
        .await
        .unwrap();
    assert_eq!(counted, 2);
    let counted = h
        .store
        .record_usage(&[first.clone(), failed])
        .await
        .unwrap();
    assert_eq!(counted, 0);
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
    assert_eq!(h.store.record_usage(&[]).await.unwrap(), 0);
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

/// A record of `prompt`/`completion` tokens and `cost` nano-dollars for `model` at `at`.
fn priced(
    project_id: Uuid,
    token_id: Option<Uuid>,
    model: &str,
    at: DateTime<Utc>,
    (prompt, completion, cost): (u64, u64, u64),
) -> UsageRecord {
    UsageRecord {
        model: Some(model.to_owned()),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: 0,
        cost_nano_usd: cost,
        ..record(project_id, token_id, at)
    }
}

fn day_start(days_ago: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::days(1)).unwrap() - Duration::days(days_ago)
}

/// Hourly and daily series, oldest first, with costs summed exactly; the model filter.
pub async fn usage_series_by_hour_and_day(h: &Harness) {
    let p = Uuid::new_v4();
    let t = Uuid::new_v4();
    let d2 = day_start(2);
    let d1 = day_start(1);
    h.store
        .record_usage(&[
            priced(
                p,
                Some(t),
                "gpt-4o",
                d2 + Duration::minutes(5),
                (100, 10, 7),
            ),
            priced(
                p,
                Some(t),
                "gpt-4o",
                d2 + Duration::minutes(50),
                (100, 10, 7),
            ),
            priced(p, None, "mini", d2 + Duration::hours(23), (1, 1, 1)),
            priced(p, Some(t), "mini", d1 + Duration::hours(4), (5, 5, 3)),
            priced(Uuid::new_v4(), None, "gpt-4o", d1, (9, 9, 9)),
        ])
        .await
        .unwrap();
    let of_p = UsageFilter {
        project_id: Some(p),
        ..Default::default()
    };

    let hourly = h
        .store
        .usage_series(&of_p, Granularity::Hour)
        .await
        .unwrap();
    let starts: Vec<_> = hourly.iter().map(|pt| pt.start).collect();
    assert_eq!(
        starts,
        [d2, d2 + Duration::hours(23), d1 + Duration::hours(4)]
    );
    assert_eq!(hourly[0].totals.requests, 2);
    assert_eq!(hourly[0].totals.prompt_tokens, 200);
    assert_eq!(hourly[0].totals.cost_nano_usd, 14);

    let daily = h.store.usage_series(&of_p, Granularity::Day).await.unwrap();
    assert_eq!(daily.len(), 2, "{daily:?}");
    assert_eq!(daily[0].start, d2);
    assert_eq!(daily[0].totals.requests, 3);
    assert_eq!(daily[0].totals.cost_nano_usd, 15);
    assert_eq!(daily[0].totals.total_tokens(), 222);
    assert_eq!(daily[1].start, d1);
    assert_eq!(daily[1].totals.cost_nano_usd, 3);

    let mini = UsageFilter {
        model: Some("mini".to_owned()),
        ..of_p.clone()
    };
    let daily = h.store.usage_series(&mini, Granularity::Day).await.unwrap();
    let requests: Vec<u64> = daily.iter().map(|pt| pt.totals.requests).collect();
    assert_eq!(requests, [1, 1]);

    let windowed = UsageFilter {
        since: Some(d1),
        ..of_p
    };
    let daily = h
        .store
        .usage_series(&windowed, Granularity::Day)
        .await
        .unwrap();
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0].start, d1);
    assert!(h
        .store
        .usage_series(
            &UsageFilter {
                project_id: Some(Uuid::new_v4()),
                ..Default::default()
            },
            Granularity::Hour
        )
        .await
        .unwrap()
        .is_empty());
}

/// Totals per project, token, provider and model, and the CSV cells under a limit.
pub async fn usage_breakdown_and_cells(h: &Harness) {
    let p = Uuid::new_v4();
    let t = Uuid::new_v4();
    let d1 = day_start(1);
    let mut anthropic = priced(p, Some(t), "claude", d1, (3, 4, 5));
    anthropic.provider = "anthropic".to_owned();
    anthropic.is_error = true;
    let mut unnamed = priced(p, None, "", d1, (1, 1, 0));
    unnamed.model = None;
    h.store
        .record_usage(&[
            priced(p, Some(t), "gpt-4o", d1, (10, 1, 2)),
            priced(p, Some(t), "gpt-4o", d1 + Duration::hours(2), (10, 1, 2)),
            anthropic,
            unnamed,
        ])
        .await
        .unwrap();
    let of_p = UsageFilter {
        project_id: Some(p),
        ..Default::default()
    };
    let groups = h.store.usage_breakdown(&of_p).await.unwrap();
    let described: Vec<_> = groups
        .iter()
        .map(|g| {
            (
                g.token_id,
                g.provider.as_str(),
                g.model.as_deref(),
                g.totals.requests,
                g.totals.errors,
                g.totals.cost_nano_usd,
            )
        })
        .collect();
    let mut expected = vec![
        (None, "openai", None, 1, 0, 0),
        (Some(t), "anthropic", Some("claude"), 1, 1, 5),
        (Some(t), "openai", Some("gpt-4o"), 2, 0, 4),
    ];
    expected.sort_by_key(|e| (e.0.unwrap_or(Uuid::nil()), e.1, e.2.unwrap_or("")));
    assert_eq!(described, expected);

    let cells = h
        .store
        .usage_cells(&of_p, Granularity::Hour, 100)
        .await
        .unwrap();
    assert_eq!(cells.len(), 4);
    assert!(cells.windows(2).all(|w| w[0].start <= w[1].start));
    assert_eq!(cells.last().unwrap().start, d1 + Duration::hours(2));
    let daily = h
        .store
        .usage_cells(&of_p, Granularity::Day, 100)
        .await
        .unwrap();
    assert_eq!(daily.len(), 3, "the two gpt-4o hours fall in one day");
    let limited = h
        .store
        .usage_cells(&of_p, Granularity::Hour, 2)
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
}

/// Pruned ids are forgotten (an event that old would count again, so the sink drops such
/// events); ids newer than the cut stay and keep deduplicating.
pub async fn usage_prune_forgets_old_event_ids(h: &Harness) {
    let p = Uuid::new_v4();
    let old = record(p, None, Utc::now() - Duration::days(10));
    let fresh = record(p, None, Utc::now());
    h.store
        .record_usage(&[old.clone(), fresh.clone()])
        .await
        .unwrap();
    let pruned = h
        .store
        .prune_usage_events(Utc::now() - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(h.store.record_usage(&[fresh]).await.unwrap(), 0);
    assert_eq!(h.store.record_usage(&[old]).await.unwrap(), 1);
    assert_eq!(
        h.store
            .prune_usage_events(Utc::now() - Duration::days(7))
            .await
            .unwrap(),
        1
    );
}
