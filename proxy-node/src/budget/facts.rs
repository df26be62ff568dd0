//! What the token cache keeps about budgets: the token's and the project's budget, and what the
//! usage ledger said they spent in the period they were loaded in (the counters' floor).

use chrono::{DateTime, Utc};
use llm_proxy_core::budget::{Budget, DisconnectPolicy, Spend};
use llm_proxy_limits::BudgetLimit;
use llm_proxy_store::{DynStore, StoreResult};
use uuid::Uuid;

/// A period's spend per the ledger, and the period it belongs to (its start; `None` for a
/// lifetime).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seed {
    pub since: Option<DateTime<Utc>>,
    pub spent: Spend,
}

/// Budgets of one token and its project, cached with the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetFacts {
    pub project: Option<Budget>,
    pub token: Option<Budget>,
    pub project_seed: Seed,
    pub token_seed: Seed,
    pub on_disconnect: DisconnectPolicy,
}

impl BudgetFacts {
    pub fn any(&self) -> bool {
        self.project.is_some() || self.token.is_some()
    }

    /// Reads the ledger for the budgets that are set (none: no query).
    pub async fn load(
        store: &DynStore,
        project_id: Uuid,
        token_id: Uuid,
        project: Option<Budget>,
        token: Option<Budget>,
        on_disconnect: DisconnectPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Self> {
        let seed = |budget: Option<Budget>, token_id: Option<Uuid>| async move {
            let Some(budget) = budget else {
                return Ok(Seed::default());
            };
            let since = budget.period.window(now).start;
            let spent = store.spend(project_id, token_id, since).await?;
            StoreResult::Ok(Seed { since, spent })
        };
        Ok(Self {
            project,
            token,
            project_seed: seed(project, None).await?,
            token_seed: seed(token, Some(token_id)).await?,
            on_disconnect,
        })
    }

    pub fn project_limit(&self, now: DateTime<Utc>) -> Option<BudgetLimit> {
        limit(self.project?, self.project_seed, now)
    }

    pub fn token_limit(&self, now: DateTime<Utc>) -> Option<BudgetLimit> {
        limit(self.token?, self.token_seed, now)
    }
}

/// The budget's limit for the period `now` is in; the seed counts only for the period it was
/// read in (a cached entry that crossed into a new month starts that month from zero, and the
/// counter from the first call of the month on).
fn limit(budget: Budget, seed: Seed, now: DateTime<Utc>) -> Option<BudgetLimit> {
    let window = budget.period.window(now);
    let spent = if seed.since == window.start {
        seed.spent
    } else {
        Spend::default()
    };
    Some(BudgetLimit {
        period: window.key,
        resets_at: window.resets_at,
        max_tokens: budget.max_tokens,
        max_cost_nano_usd: budget.max_cost_nano_usd,
        spent,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use llm_proxy_core::budget::BudgetPeriod;

    use super::*;

    #[test]
    fn a_seed_counts_only_in_its_own_period() {
        let november = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let budget = Budget {
            period: BudgetPeriod::Month,
            max_tokens: Some(100),
            max_cost_nano_usd: None,
        };
        let facts = BudgetFacts {
            project: Some(budget),
            project_seed: Seed {
                since: BudgetPeriod::Month.window(november).start,
                spent: Spend::new(40, 0),
            },
            ..BudgetFacts::default()
        };
        let now = facts.project_limit(november).unwrap();
        assert_eq!((now.period.as_str(), now.spent.tokens), ("2026-11", 40));
        let december = facts
            .project_limit(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 1).unwrap())
            .unwrap();
        assert_eq!(
            (december.period.as_str(), december.spent.tokens),
            ("2026-12", 0)
        );
        assert!(facts.token_limit(november).is_none());
    }
}
