//! Budgets on projects and tokens, and the ledger spend that seeds budget counters.

use chrono::{DateTime, Duration, Utc};
use llm_proxy_core::audit::{action, AuditFilter};
use llm_proxy_core::budget::{Budget, BudgetPeriod, DisconnectPolicy, Spend, SpendPolicy};
use llm_proxy_core::project::ProjectUpdate;
use llm_proxy_core::token::TokenUpdate;
use llm_proxy_store::{StoreError, UsageRecord};
use uuid::Uuid;

use super::harness::{ctx, new_project, new_token, Harness};

fn monthly(max_tokens: Option<u64>, max_cost_nano_usd: Option<u64>) -> Budget {
    Budget {
        period: BudgetPeriod::Month,
        max_tokens,
        max_cost_nano_usd,
    }
}

pub async fn budgets_on_projects_round_trip(h: &Harness) {
    let spend = SpendPolicy {
        budget: Some(monthly(Some(1_000_000), Some(25_000_000_000))),
        on_disconnect: DisconnectPolicy::Drain,
    };
    let p = h
        .store
        .create_project_with(new_project("capped"), spend, &ctx())
        .await
        .unwrap();
    assert_eq!(p.budget, spend.budget);
    assert_eq!(p.on_disconnect, DisconnectPolicy::Drain);
    assert_eq!(h.store.get_project(p.id).await.unwrap(), p);
    let plain = h.project("plain").await;
    assert_eq!(
        (plain.budget, plain.on_disconnect),
        (None, DisconnectPolicy::Cancel)
    );

    let lifetime = Budget {
        period: BudgetPeriod::Lifetime,
        max_tokens: None,
        max_cost_nano_usd: Some(1),
    };
    let updated = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                budget: Some(Some(lifetime)),
                on_disconnect: Some(DisconnectPolicy::Cancel),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(updated.budget, Some(lifetime));
    assert_eq!(updated.on_disconnect, DisconnectPolicy::Cancel);
    let listed = h
        .store
        .list_projects(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.id == p.id)
        .unwrap();
    assert_eq!(listed, updated);

    let rows = h
        .store
        .list_audit(&AuditFilter {
            project_id: Some(p.id),
            action: Some(action::PROJECT_UPDATE.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let changes = &rows[0].metadata["changes"];
    assert_eq!(changes["budget"]["to"]["period"], "lifetime");
    assert_eq!(changes["on_disconnect"]["to"], "cancel");

    let removed = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                budget: Some(None),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(removed.budget, None);

    let empty = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                budget: Some(Some(monthly(None, None))),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(matches!(empty, StoreError::Invalid(_)), "{empty:?}");
}

pub async fn budgets_on_tokens_round_trip(h: &Harness) {
    let p = h.project("p").await;
    let budget = monthly(Some(500), None);
    let t = h
        .store
        .create_token_with(new_token(p.id), Some(budget), &ctx())
        .await
        .unwrap();
    assert_eq!(t.budget, Some(budget));
    assert_eq!(h.store.get_token(t.id).await.unwrap(), t);
    assert_eq!(h.token(p.id).await.budget, None);

    let updated = h
        .store
        .update_token(
            t.id,
            TokenUpdate {
                budget: Some(Some(monthly(None, Some(7)))),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(updated.budget, Some(monthly(None, Some(7))));
    let found = h
        .store
        .find_token_by_hash(&t.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.budget, updated.budget);
    let cleared = h
        .store
        .update_token(
            t.id,
            TokenUpdate {
                budget: Some(None),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(cleared.budget, None);
    let err = h
        .store
        .create_token_with(new_token(p.id), Some(monthly(None, None)), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

fn spent(project_id: Uuid, token_id: Option<Uuid>, at: DateTime<Utc>, n: u64) -> UsageRecord {
    UsageRecord {
        event_id: Uuid::now_v7(),
        occurred_at: at,
        project_id,
        token_id,
        provider: "openai".to_owned(),
        model: Some("gpt-4o".to_owned()),
        is_error: false,
        prompt_tokens: n,
        completion_tokens: n,
        cached_tokens: n / 2,
        cost_nano_usd: 1_000 * n,
    }
}

/// Spend since a period start (the start's hour included) or over the whole lifetime, per
/// project and per token.
pub async fn spend_reads_the_ledger_per_period(h: &Harness) {
    let (p, t) = (Uuid::new_v4(), Uuid::new_v4());
    let start = BudgetPeriod::Month.window(Utc::now()).start.unwrap();
    h.store
        .record_usage(&[
            spent(p, Some(t), start + Duration::minutes(1), 10),
            spent(p, None, start + Duration::days(1), 5),
            spent(p, Some(t), start - Duration::minutes(1), 100),
            spent(Uuid::new_v4(), Some(t), start, 1_000),
        ])
        .await
        .unwrap();
    let month = h.store.spend(p, None, Some(start)).await.unwrap();
    assert_eq!(month, Spend::new(30, 15_000));
    let token_month = h.store.spend(p, Some(t), Some(start)).await.unwrap();
    assert_eq!(token_month, Spend::new(20, 10_000));
    let lifetime = h.store.spend(p, None, None).await.unwrap();
    assert_eq!(lifetime, Spend::new(230, 115_000));
    let none = h.store.spend(Uuid::new_v4(), None, None).await.unwrap();
    assert_eq!(none, Spend::default());
}
