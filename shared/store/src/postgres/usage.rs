//! SQL for the hourly usage ledger.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use uuid::Uuid;

use super::filter::Where;
use llm_proxy_core::budget::Spend;

use crate::common::{from_i64, hour_of, to_i64, token_from_ledger, usage_window, UsageKey};
use crate::usage::{Granularity, UsageCell, UsageGroup, UsagePoint, UsageTotals};
use crate::{StoreResult, UsageFilter, UsageRow};

/// Ids forgotten per statement, so pruning never holds long locks.
const PRUNE_BATCH: i64 = 10_000;

const SUMS: &str = "SUM(requests)::int8, SUM(errors)::int8, SUM(prompt_tokens)::int8, \
                    SUM(completion_tokens)::int8, SUM(cached_tokens)::int8, \
                    SUM(cost_nano_usd)::int8";

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
    let mut cost = Vec::with_capacity(n);
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
        cost.push(to_i64(t.cost_nano_usd, "cost_nano_usd")?);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO usage_hourly AS u (project_id, token_id, provider, model, hour, requests, \
             errors, prompt_tokens, completion_tokens, cached_tokens, cost_nano_usd) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], \
             $5::timestamptz[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], \
             $11::int8[]) \
             ON CONFLICT (project_id, token_id, provider, model, hour) DO UPDATE SET \
             requests = u.requests + EXCLUDED.requests, errors = u.errors + EXCLUDED.errors, \
             prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens, \
             completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens, \
             cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens, \
             cost_nano_usd = u.cost_nano_usd + EXCLUDED.cost_nano_usd",
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
            &cost,
        ],
    )
    .await?;
    Ok(())
}

/// The filter's conditions; the window bounds live in `bounds` so the clause can borrow them.
fn conditions<'a>(
    filter: &'a UsageFilter,
    bounds: &'a (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Where<'a> {
    let mut w = Where::default();
    if let Some(project_id) = &filter.project_id {
        w.push("project_id =", project_id);
    }
    if let Some(token_id) = &filter.token_id {
        w.push("token_id =", token_id);
    }
    if let Some(model) = &filter.model {
        w.push("model =", model);
    }
    if let Some(after) = &bounds.0 {
        w.push("hour >", after);
    }
    if let Some(before) = &bounds.1 {
        w.push("hour <", before);
    }
    w
}

/// The six sums starting at column `at`.
fn totals(r: &Row, at: usize) -> StoreResult<UsageTotals> {
    Ok(UsageTotals {
        requests: from_i64(r.try_get(at)?),
        errors: from_i64(r.try_get(at + 1)?),
        prompt_tokens: from_i64(r.try_get(at + 2)?),
        completion_tokens: from_i64(r.try_get(at + 3)?),
        cached_tokens: from_i64(r.try_get(at + 4)?),
        cost_nano_usd: from_i64(r.try_get(at + 5)?),
    })
}

fn bucket(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Hour => "hour",
        Granularity::Day => "(date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    }
}

fn model_from_ledger(model: String) -> Option<String> {
    (!model.is_empty()).then_some(model)
}

fn group(r: &Row, at: usize) -> StoreResult<UsageGroup> {
    Ok(UsageGroup {
        project_id: r.try_get(at)?,
        token_id: token_from_ledger(r.try_get(at + 1)?),
        provider: r.try_get(at + 2)?,
        model: model_from_ledger(r.try_get(at + 3)?),
        totals: totals(r, at + 4)?,
    })
}

async fn query(
    c: &impl GenericClient,
    sql: &str,
    w: &Where<'_>,
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, &w.args).await?)
}

pub(super) async fn summary(
    c: &impl GenericClient,
    filter: &UsageFilter,
) -> StoreResult<Vec<UsageRow>> {
    let bounds = usage_window(filter.since, filter.until);
    let w = conditions(filter, &bounds);
    let sql = format!(
        "SELECT project_id, token_id, {SUMS} FROM usage_hourly{} \
         GROUP BY project_id, token_id ORDER BY project_id, token_id",
        w.sql()
    );
    query(c, &sql, &w)
        .await?
        .iter()
        .map(|r| {
            let t = totals(r, 2)?;
            Ok(UsageRow {
                project_id: r.try_get(0)?,
                token_id: token_from_ledger(r.try_get(1)?),
                requests: t.requests,
                errors: t.errors,
                prompt_tokens: t.prompt_tokens,
                completion_tokens: t.completion_tokens,
                cached_tokens: t.cached_tokens,
                cost_nano_usd: t.cost_nano_usd,
            })
        })
        .collect()
}

pub(super) async fn series(
    c: &impl GenericClient,
    filter: &UsageFilter,
    granularity: Granularity,
) -> StoreResult<Vec<UsagePoint>> {
    let bounds = usage_window(filter.since, filter.until);
    let w = conditions(filter, &bounds);
    let sql = format!(
        "SELECT {b} AS bucket, {SUMS} FROM usage_hourly{} GROUP BY bucket ORDER BY bucket",
        w.sql(),
        b = bucket(granularity)
    );
    query(c, &sql, &w)
        .await?
        .iter()
        .map(|r| {
            Ok(UsagePoint {
                start: r.try_get(0)?,
                totals: totals(r, 1)?,
            })
        })
        .collect()
}

pub(super) async fn breakdown(
    c: &impl GenericClient,
    filter: &UsageFilter,
) -> StoreResult<Vec<UsageGroup>> {
    let bounds = usage_window(filter.since, filter.until);
    let w = conditions(filter, &bounds);
    let sql = format!(
        "SELECT project_id, token_id, provider, model, {SUMS} FROM usage_hourly{} \
         GROUP BY project_id, token_id, provider, model \
         ORDER BY project_id, token_id, provider, model",
        w.sql()
    );
    query(c, &sql, &w)
        .await?
        .iter()
        .map(|r| group(r, 0))
        .collect()
}

pub(super) async fn cells(
    c: &impl GenericClient,
    filter: &UsageFilter,
    granularity: Granularity,
    limit: u32,
) -> StoreResult<Vec<UsageCell>> {
    let bounds = usage_window(filter.since, filter.until);
    let limit = i64::from(limit);
    let mut w = conditions(filter, &bounds);
    let where_sql = w.sql();
    let limit_param = w.param(&limit);
    let sql = format!(
        "SELECT {b} AS bucket, project_id, token_id, provider, model, {SUMS} \
         FROM usage_hourly{where_sql} GROUP BY bucket, project_id, token_id, provider, model \
         ORDER BY bucket, project_id, token_id, provider, model LIMIT {limit_param}",
        b = bucket(granularity)
    );
    query(c, &sql, &w)
        .await?
        .iter()
        .map(|r| {
            Ok(UsageCell {
                start: r.try_get(0)?,
                group: group(r, 1)?,
            })
        })
        .collect()
}

pub(super) async fn spend(
    c: &impl GenericClient,
    project_id: Uuid,
    token_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> StoreResult<Spend> {
    let since = since.map(hour_of);
    let mut w = Where::default();
    w.push("project_id =", &project_id);
    if let Some(token_id) = &token_id {
        w.push("token_id =", token_id);
    }
    if let Some(since) = &since {
        w.push("hour >=", since);
    }
    let sql = format!(
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::int8, \
         COALESCE(SUM(cost_nano_usd), 0)::int8 FROM usage_hourly{}",
        w.sql()
    );
    let row = c.query_one(&c.prepare_cached(&sql).await?, &w.args).await?;
    Ok(Spend::new(
        from_i64(row.try_get(0)?),
        from_i64(row.try_get(1)?),
    ))
}

/// Forgets one batch of event ids older than `before`; returns how many.
pub(super) async fn prune_seen(c: &impl GenericClient, before: DateTime<Utc>) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached(
            "DELETE FROM usage_events_seen WHERE event_id IN (SELECT event_id FROM \
             usage_events_seen WHERE occurred_at < $1 LIMIT $2)",
        )
        .await?;
    Ok(c.execute(&stmt, &[&before, &PRUNE_BATCH]).await?)
}

pub(super) const fn prune_batch() -> u64 {
    PRUNE_BATCH as u64
}
