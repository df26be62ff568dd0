//! Usage ledger: hourly roll-ups per project, token, provider and model, fed from request
//! events. Idempotent per event id: the ids counted are remembered in the same transaction as
//! the roll-up, so redelivered events never count twice (until the ids are pruned, see
//! [`UsageStore::prune_usage_events`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use llm_proxy_core::budget::Spend;
use serde::Serialize;
use uuid::Uuid;

use crate::StoreResult;

/// One request event's contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub project_id: Uuid,
    pub token_id: Option<Uuid>,
    pub provider: String,
    pub model: Option<String>,
    pub is_error: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// From the price table; 0 when the model has no price.
    pub cost_nano_usd: u64,
}

/// Which ledger rows a read covers. A bucket counts when its hour overlaps `[since, until)`.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    /// Exact model name as recorded.
    pub model: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Sums over some ledger rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost_nano_usd: u64,
}

impl UsageTotals {
    pub fn add(&mut self, other: &UsageTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(other.cached_tokens);
        self.cost_nano_usd = self.cost_nano_usd.saturating_add(other.cost_nano_usd);
    }

    /// Prompt plus completion tokens: what a token budget counts.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Totals over the filter's window, one row per project and token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub project_id: Uuid,
    pub token_id: Option<Uuid>,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost_nano_usd: u64,
}

impl UsageRow {
    pub fn totals(&self) -> UsageTotals {
        UsageTotals {
            requests: self.requests,
            errors: self.errors,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: self.cached_tokens,
            cost_nano_usd: self.cost_nano_usd,
        }
    }
}

/// The width of a time bucket in a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    /// UTC days.
    Day,
}

impl Granularity {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// One time bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsagePoint {
    /// The bucket's first instant (UTC).
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Totals of one project, token, provider and model over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageGroup {
    pub project_id: Uuid,
    pub token_id: Option<Uuid>,
    pub provider: String,
    pub model: Option<String>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// One ledger cell: a time bucket of one project, token, provider and model (the CSV export).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageCell {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub group: UsageGroup,
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds records to the hourly ledger in one transaction; a record whose `event_id` was
    /// already recorded (in this batch or before) is skipped. Returns how many counted.
    async fn record_usage(&self, records: &[UsageRecord]) -> StoreResult<u64>;
    /// Totals per project and token.
    async fn usage_summary(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>>;
    /// Totals per time bucket, oldest first; buckets without usage are absent.
    async fn usage_series(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsagePoint>>;
    /// Totals per project, token, provider and model.
    async fn usage_breakdown(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageGroup>>;
    /// Every cell, oldest bucket first, at most `limit`.
    async fn usage_cells(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
        limit: u32,
    ) -> StoreResult<Vec<UsageCell>>;
    /// Prompt plus completion tokens and cost of a project (of one of its tokens, when given)
    /// from the hour `since` falls in on (everything when `None`): what seeds budget counters.
    async fn spend(
        &self,
        project_id: Uuid,
        token_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Spend>;
    /// Forgets the ids of events that occurred before `before` (in batches); returns how many.
    /// Events that old must not be recorded again (the sink drops them).
    async fn prune_usage_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
