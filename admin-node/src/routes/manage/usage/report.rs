//! The JSON shapes of usage answers: totals with `total_tokens` and `cost_usd`, series points,
//! and the per-model and per-project breakdowns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::usage_cost::nanos_to_usd;
use llm_proxy_store::{UsageGroup, UsagePoint, UsageRow, UsageTotals};
use serde::Serialize;
use uuid::Uuid;

/// Ledger sums as the API shows them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub total_tokens: u64,
    /// From the configured price table; models without a price add nothing.
    pub cost_usd: f64,
}

impl From<&UsageTotals> for Totals {
    fn from(t: &UsageTotals) -> Self {
        Self {
            requests: t.requests,
            errors: t.errors,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            cached_tokens: t.cached_tokens,
            total_tokens: t.total_tokens(),
            cost_usd: nanos_to_usd(t.cost_nano_usd),
        }
    }
}

impl Totals {
    pub fn of(rows: &[UsageRow]) -> Self {
        Self::from(&sum(rows.iter().map(UsageRow::totals)))
    }
}

pub fn sum(all: impl IntoIterator<Item = UsageTotals>) -> UsageTotals {
    let mut total = UsageTotals::default();
    for t in all {
        total.add(&t);
    }
    total
}

/// One time bucket as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub usage: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelUsage {
    pub provider: String,
    pub model: Option<String>,
    pub usage: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenUsage {
    pub token_id: Option<Uuid>,
    pub usage: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectUsage {
    pub project_id: Uuid,
    pub usage: Totals,
    pub tokens: Vec<TokenUsage>,
}

pub fn series(points: &[UsagePoint]) -> Vec<Point> {
    points
        .iter()
        .map(|p| Point {
            start: p.start,
            usage: Totals::from(&p.totals),
        })
        .collect()
}

/// Per provider and model, most expensive (then most used) first.
pub fn models(groups: &[UsageGroup]) -> Vec<ModelUsage> {
    let mut by_model: BTreeMap<(&str, Option<&str>), UsageTotals> = BTreeMap::new();
    for g in groups {
        by_model
            .entry((g.provider.as_str(), g.model.as_deref()))
            .or_default()
            .add(&g.totals);
    }
    let mut rows: Vec<_> = by_model.into_iter().collect();
    rows.sort_by_key(|(_, t)| std::cmp::Reverse((t.cost_nano_usd, t.requests)));
    rows.into_iter()
        .map(|((provider, model), totals)| ModelUsage {
            provider: provider.to_owned(),
            model: model.map(str::to_owned),
            usage: Totals::from(&totals),
        })
        .collect()
}

/// Per project, with its tokens inside.
pub fn projects(groups: &[UsageGroup]) -> Vec<ProjectUsage> {
    let mut by_project: BTreeMap<Uuid, BTreeMap<Option<Uuid>, UsageTotals>> = BTreeMap::new();
    for g in groups {
        by_project
            .entry(g.project_id)
            .or_default()
            .entry(g.token_id)
            .or_default()
            .add(&g.totals);
    }
    by_project
        .into_iter()
        .map(|(project_id, tokens)| ProjectUsage {
            project_id,
            usage: Totals::from(&sum(tokens.values().copied())),
            tokens: tokens
                .iter()
                .map(|(token_id, t)| TokenUsage {
                    token_id: *token_id,
                    usage: Totals::from(t),
                })
                .collect(),
        })
        .collect()
}
