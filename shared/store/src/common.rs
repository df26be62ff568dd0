//! What both backends share: timestamps at the precision both can store, integer conversions,
//! audit rows built from a context, and the batching of usage records.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use llm_proxy_core::audit::{AuditContext, AuditEvent, AuditOutcome, NewAuditEvent};
use llm_proxy_core::budget::{Budget, BudgetPeriod, DisconnectPolicy};
use llm_proxy_core::token::TokenUsage;
use uuid::Uuid;

use crate::usage::UsageTotals;
use crate::{StoreError, StoreResult, UsageRecord};

/// The most rows one `list_audit` call returns.
pub(crate) const AUDIT_MAX_LIMIT: u32 = 1000;
/// The page size of `list_audit` when the filter names none.
pub(crate) const AUDIT_DEFAULT_LIMIT: u32 = 100;

/// Now, at microsecond precision (what Postgres stores), so values read back compare equal.
pub(crate) fn now() -> DateTime<Utc> {
    trunc(Utc::now())
}

/// Drops sub-microsecond precision.
pub(crate) fn trunc(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

pub(crate) fn trunc_opt(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.map(trunc)
}

/// The start of the hour `at` falls in.
pub(crate) fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

pub(crate) fn to_i64(value: u64, field: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{field} is too large")))
}

pub(crate) fn to_i32(value: u32, field: &str) -> StoreResult<i32> {
    i32::try_from(value).map_err(|_| StoreError::Invalid(format!("{field} is too large")))
}

pub(crate) fn opt_i64(value: Option<u64>, field: &str) -> StoreResult<Option<i64>> {
    value.map(|v| to_i64(v, field)).transpose()
}

pub(crate) fn opt_i32(value: Option<u32>, field: &str) -> StoreResult<Option<i32>> {
    value.map(|v| to_i32(v, field)).transpose()
}

/// Stored counters are never negative (CHECK constraints); a negative one reads as 0.
pub(crate) fn from_i64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn from_i32(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

pub(crate) fn validate_project_name(name: &str) -> StoreResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid(
            "project name must not be empty".to_owned(),
        ));
    }
    if name.chars().count() > 200 {
        return Err(StoreError::Invalid(
            "project name must be at most 200 characters".to_owned(),
        ));
    }
    Ok(name.to_owned())
}

pub(crate) fn validate_provider(provider: &str) -> StoreResult<()> {
    if provider.trim().is_empty() {
        return Err(StoreError::Invalid(
            "provider name must not be empty".to_owned(),
        ));
    }
    Ok(())
}

/// The audit row of a successful mutation.
pub(crate) fn audit_row(
    action: &str,
    ctx: &AuditContext,
    project_id: Option<Uuid>,
    token_id: Option<Uuid>,
    metadata: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        timestamp: now(),
        action: action.to_owned(),
        actor: ctx.actor.clone(),
        project_id,
        token_id,
        request_id: ctx.request_id.clone(),
        client_ip: ctx.client_ip.clone(),
        outcome: AuditOutcome::Success,
        reason: None,
        metadata,
    }
}

/// An audit row inserted on its own.
pub(crate) fn audit_row_from_new(new: NewAuditEvent) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        timestamp: now(),
        action: new.action,
        actor: new.context.actor,
        project_id: new.project_id,
        token_id: new.token_id,
        request_id: new.context.request_id,
        client_ip: new.context.client_ip,
        outcome: new.outcome,
        reason: new.reason,
        metadata: new.metadata,
    }
}

pub(crate) fn audit_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(AUDIT_DEFAULT_LIMIT).min(AUDIT_MAX_LIMIT)
}

/// Token usage merged per token (a token may appear several times in one batch), sorted by id so
/// concurrent batches lock rows in the same order.
pub(crate) fn merge_token_usage(usage: &[TokenUsage]) -> BTreeMap<Uuid, (u64, DateTime<Utc>)> {
    let mut merged: BTreeMap<Uuid, (u64, DateTime<Utc>)> = BTreeMap::new();
    for u in usage {
        let at = trunc(u.last_used_at);
        merged
            .entry(u.token_id)
            .and_modify(|(requests, last)| {
                *requests = requests.saturating_add(u.requests);
                if at > *last {
                    *last = at;
                }
            })
            .or_insert((u.requests, at));
    }
    merged
}

/// Records with duplicate event ids removed (first wins), sorted by event id.
pub(crate) fn unique_events(records: &[UsageRecord]) -> Vec<&UsageRecord> {
    let mut seen = HashSet::with_capacity(records.len());
    let mut unique: Vec<&UsageRecord> =
        records.iter().filter(|r| seen.insert(r.event_id)).collect();
    unique.sort_by_key(|r| r.event_id);
    unique
}

/// One hourly bucket of the usage ledger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UsageKey {
    pub project_id: Uuid,
    /// The nil UUID when the request had no token.
    pub token_id: Uuid,
    pub provider: String,
    /// Empty when the request named no model.
    pub model: String,
    pub hour: DateTime<Utc>,
}

/// Sums records into hourly buckets, sorted by key so concurrent upserts lock in the same order.
pub(crate) fn aggregate_usage<'a>(
    records: impl IntoIterator<Item = &'a UsageRecord>,
) -> BTreeMap<UsageKey, UsageTotals> {
    let mut buckets: BTreeMap<UsageKey, UsageTotals> = BTreeMap::new();
    for r in records {
        let key = UsageKey {
            project_id: r.project_id,
            token_id: r.token_id.unwrap_or(Uuid::nil()),
            provider: r.provider.clone(),
            model: r.model.clone().unwrap_or_default(),
            hour: hour_of(r.occurred_at),
        };
        let t = buckets.entry(key).or_default();
        t.requests = t.requests.saturating_add(1);
        t.errors = t.errors.saturating_add(u64::from(r.is_error));
        t.prompt_tokens = t.prompt_tokens.saturating_add(r.prompt_tokens);
        t.completion_tokens = t.completion_tokens.saturating_add(r.completion_tokens);
        t.cached_tokens = t.cached_tokens.saturating_add(r.cached_tokens);
        t.cost_nano_usd = t.cost_nano_usd.saturating_add(r.cost_nano_usd);
    }
    buckets
}

/// The nil UUID stands for "no token" in the ledger.
pub(crate) fn token_from_ledger(token_id: Uuid) -> Option<Uuid> {
    (!token_id.is_nil()).then_some(token_id)
}

/// A bucket counts when its hour overlaps the window `[since, until)`: its start is after
/// `since - 1h` and before `until`.
pub(crate) fn usage_window(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        since.map(|s| trunc(s) - TimeDelta::hours(1)),
        until.map(trunc),
    )
}

/// A budget as its three columns: period, max tokens, max cost (nano-dollars).
pub(crate) type BudgetColumns = (Option<&'static str>, Option<i64>, Option<i64>);

pub(crate) fn budget_columns(budget: Option<&Budget>) -> StoreResult<BudgetColumns> {
    match budget {
        None => Ok((None, None, None)),
        Some(b) => Ok((
            Some(b.period.as_str()),
            opt_i64(b.max_tokens, "budget.max_tokens")?,
            opt_i64(b.max_cost_nano_usd, "budget.max_cost_usd")?,
        )),
    }
}

/// The budget the columns hold; none when no period is set.
pub(crate) fn budget_from_columns(
    period: Option<&str>,
    max_tokens: Option<i64>,
    max_cost: Option<i64>,
) -> Option<Budget> {
    Some(Budget {
        period: BudgetPeriod::parse(period?)?,
        max_tokens: max_tokens.map(from_i64),
        max_cost_nano_usd: max_cost.map(from_i64),
    })
}

/// A budget caps something.
pub(crate) fn validate_budget(budget: Option<&Budget>) -> StoreResult<()> {
    if budget.is_some_and(|b| b.max_tokens.is_none() && b.max_cost_nano_usd.is_none()) {
        return Err(StoreError::Invalid(
            "a budget needs max_tokens, max_cost_usd or both".to_owned(),
        ));
    }
    Ok(())
}

pub(crate) fn disconnect_from_column(value: &str) -> DisconnectPolicy {
    DisconnectPolicy::parse(value).unwrap_or_default()
}
