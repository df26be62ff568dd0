//! Usage ledger: hourly roll-ups per project, token, provider and model, fed from request events.
//! Idempotent per event id so redelivered events never count twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
}

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
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
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds records to the hourly ledger; a record whose `event_id` was already recorded is skipped.
    async fn record_usage(&self, records: &[UsageRecord]) -> StoreResult<()>;
    async fn usage_summary(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>>;
}
