//! SQL for the hourly usage ledger.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use super::filter::Where;
use crate::common::{from_i64, to_i64, token_from_ledger, usage_window, UsageKey, UsageTotals};
use crate::{StoreResult, UsageFilter, UsageRow};

/// Remembers event ids (given sorted); returns those not recorded before.
pub(super) async fn mark_seen(
    tx: &Transaction<'_>,
    ids: &[Uuid],
    occurred_at: &[DateTime<Utc>],
) -> StoreResult<HashSet<Uuid>> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO usage_events_seen (event_id, occurred_at) \
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .await?;
    tx.query(&stmt, &[&ids, &occurred_at])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// Adds sorted buckets in one upsert.
pub(super) async fn add(
    tx: &Transaction<'_>,
    buckets: &BTreeMap<UsageKey, UsageTotals>,
) -> StoreResult<()> {
    if buckets.is_empty() {
        return Ok(());
    }
    let n = buckets.len();
    let mut projects = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut providers = Vec::with_capacity(n);
    let mut models = Vec::with_capacity(n);
    let mut hours = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut prompt = Vec::with_capacity(n);
    let mut completion = Vec::with_capacity(n);
    let mut cached = Vec::with_capacity(n);
    for (k, t) in buckets {
        projects.push(k.project_id);
        tokens.push(k.token_id);
        providers.push(k.provider.as_str());
        models.push(k.model.as_str());
        hours.push(k.hour);
        requests.push(to_i64(t.requests, "requests")?);
        errors.push(to_i64(t.errors, "errors")?);
        prompt.push(to_i64(t.prompt_tokens, "prompt_tokens")?);
        completion.push(to_i64(t.completion_tokens, "completion_tokens")?);
        cached.push(to_i64(t.cached_tokens, "cached_tokens")?);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO usage_hourly AS u (project_id, token_id, provider, model, hour, requests, \
             errors, prompt_tokens, completion_tokens, cached_tokens) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], \
             $5::timestamptz[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[]) \
             ON CONFLICT (project_id, token_id, provider, model, hour) DO UPDATE SET \
             requests = u.requests + EXCLUDED.requests, errors = u.errors + EXCLUDED.errors, \
             prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens, \
             completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens, \
             cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &projects,
            &tokens,
            &providers,
            &models,
            &hours,
            &requests,
            &errors,
            &prompt,
            &completion,
            &cached,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn summary(
    c: &impl GenericClient,
    filter: &UsageFilter,
) -> StoreResult<Vec<UsageRow>> {
    let (after, before) = usage_window(filter.since, filter.until);
    let mut w = Where::default();
    if let Some(project_id) = &filter.project_id {
        w.push("project_id =", project_id);
    }
    if let Some(token_id) = &filter.token_id {
        w.push("token_id =", token_id);
    }
    if let Some(after) = &after {
        w.push("hour >", after);
    }
    if let Some(before) = &before {
        w.push("hour <", before);
    }
    let sql = format!(
        "SELECT project_id, token_id, SUM(requests)::int8, SUM(errors)::int8, \
         SUM(prompt_tokens)::int8, SUM(completion_tokens)::int8, SUM(cached_tokens)::int8 \
         FROM usage_hourly{} GROUP BY project_id, token_id ORDER BY project_id, token_id",
        w.sql()
    );
    let args = w.args;
    let stmt = c.prepare_cached(&sql).await?;
    c.query(&stmt, &args)
        .await?
        .iter()
        .map(|r| {
            Ok(UsageRow {
                project_id: r.try_get(0)?,
                token_id: token_from_ledger(r.try_get(1)?),
                requests: from_i64(r.try_get(2)?),
                errors: from_i64(r.try_get(3)?),
                prompt_tokens: from_i64(r.try_get(4)?),
                completion_tokens: from_i64(r.try_get(5)?),
                cached_tokens: from_i64(r.try_get(6)?),
            })
        })
        .collect()
}
