//! SQL for the hourly usage ledger.

use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, Row};
use uuid::Uuid;

use super::rows::{self, micros};
use llm_proxy_core::budget::Spend;

use crate::common::{from_i64, hour_of, to_i64, token_from_ledger, usage_window, UsageKey};
use crate::usage::{Granularity, UsageCell, UsageGroup, UsagePoint, UsageTotals};
use crate::{StoreResult, UsageFilter, UsageRow};

/// Ids forgotten per statement, so the writer is never held for long.
pub(super) const PRUNE_BATCH: i64 = 10_000;

const DAY_MICROS: i64 = 86_400_000_000;

const SUMS: &str = "SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), \
                    SUM(cached_tokens), SUM(cost_nano_usd)";

/// Remembers an event id; false when it was already recorded.
pub(super) fn mark_seen(
    conn: &Connection,
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO usage_events_seen (event_id, occurred_at) VALUES (?1, ?2) \
             ON CONFLICT (event_id) DO NOTHING",
        )?
        .execute(params![event_id.to_string(), micros(occurred_at)])?;
    Ok(inserted == 1)
}

pub(super) fn add(conn: &Connection, key: &UsageKey, t: &UsageTotals) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO usage_hourly (project_id, token_id, provider, model, hour, requests, errors, \
         prompt_tokens, completion_tokens, cached_tokens, cost_nano_usd) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (project_id, token_id, provider, model, hour) DO UPDATE SET \
         requests = requests + excluded.requests, errors = errors + excluded.errors, \
         prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
         completion_tokens = completion_tokens + excluded.completion_tokens, \
         cached_tokens = cached_tokens + excluded.cached_tokens, \
         cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd",
    )?
    .execute(params![
        key.project_id.to_string(),
        key.token_id.to_string(),
        key.provider,
        key.model,
        micros(key.hour),
        to_i64(t.requests, "requests")?,
        to_i64(t.errors, "errors")?,
        to_i64(t.prompt_tokens, "prompt_tokens")?,
        to_i64(t.completion_tokens, "completion_tokens")?,
        to_i64(t.cached_tokens, "cached_tokens")?,
        to_i64(t.cost_nano_usd, "cost_nano_usd")?,
    ])?;
    Ok(())
}

/// ` WHERE …` with its arguments, from the filter's conditions.
fn conditions(filter: &UsageFilter) -> (String, Vec<Box<dyn ToSql>>) {
    let mut clauses = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut push = |clause: &str, arg: Box<dyn ToSql>| {
        args.push(arg);
        clauses.push(format!("{clause} ?{}", args.len()));
    };
    if let Some(project_id) = filter.project_id {
        push("project_id =", Box::new(project_id.to_string()));
    }
    if let Some(token_id) = filter.token_id {
        push("token_id =", Box::new(token_id.to_string()));
    }
    if let Some(model) = &filter.model {
        push("model =", Box::new(model.clone()));
    }
    let (after, before) = usage_window(filter.since, filter.until);
    if let Some(after) = after {
        push("hour >", Box::new(micros(after)));
    }
    if let Some(before) = before {
        push("hour <", Box::new(micros(before)));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

fn totals(r: &Row<'_>, at: usize) -> rusqlite::Result<UsageTotals> {
    Ok(UsageTotals {
        requests: from_i64(r.get(at)?),
        errors: from_i64(r.get(at + 1)?),
        prompt_tokens: from_i64(r.get(at + 2)?),
        completion_tokens: from_i64(r.get(at + 3)?),
        cached_tokens: from_i64(r.get(at + 4)?),
        cost_nano_usd: from_i64(r.get(at + 5)?),
    })
}

fn bucket(granularity: Granularity) -> String {
    match granularity {
        Granularity::Hour => "hour".to_owned(),
        Granularity::Day => format!("(hour / {DAY_MICROS}) * {DAY_MICROS}"),
    }
}

fn group(r: &Row<'_>, at: usize) -> rusqlite::Result<UsageGroup> {
    let model: String = r.get(at + 3)?;
    Ok(UsageGroup {
        project_id: rows::uuid(r, at)?,
        token_id: token_from_ledger(rows::uuid(r, at + 1)?),
        provider: r.get(at + 2)?,
        model: (!model.is_empty()).then_some(model),
        totals: totals(r, at + 4)?,
    })
}

pub(super) fn summary(conn: &Connection, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
    let (where_sql, args) = conditions(filter);
    let sql = format!(
        "SELECT project_id, token_id, {SUMS} FROM usage_hourly{where_sql} \
         GROUP BY project_id, token_id ORDER BY project_id, token_id"
    );
    let summary = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| {
            let t = totals(r, 2)?;
            Ok(UsageRow {
                project_id: rows::uuid(r, 0)?,
                token_id: token_from_ledger(rows::uuid(r, 1)?),
                requests: t.requests,
                errors: t.errors,
                prompt_tokens: t.prompt_tokens,
                completion_tokens: t.completion_tokens,
                cached_tokens: t.cached_tokens,
                cost_nano_usd: t.cost_nano_usd,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(summary)
}

pub(super) fn series(
    conn: &Connection,
    filter: &UsageFilter,
    granularity: Granularity,
) -> StoreResult<Vec<UsagePoint>> {
    let (where_sql, args) = conditions(filter);
    let sql = format!(
        "SELECT {} AS bucket, {SUMS} FROM usage_hourly{where_sql} GROUP BY bucket \
         ORDER BY bucket",
        bucket(granularity)
    );
    let points = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(UsagePoint {
                start: rows::ts(r, 0)?,
                totals: totals(r, 1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(points)
}

pub(super) fn breakdown(conn: &Connection, filter: &UsageFilter) -> StoreResult<Vec<UsageGroup>> {
    let (where_sql, args) = conditions(filter);
    let sql = format!(
        "SELECT project_id, token_id, provider, model, {SUMS} FROM usage_hourly{where_sql} \
         GROUP BY project_id, token_id, provider, model \
         ORDER BY project_id, token_id, provider, model"
    );
    let groups = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| group(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(groups)
}

pub(super) fn cells(
    conn: &Connection,
    filter: &UsageFilter,
    granularity: Granularity,
    limit: u32,
) -> StoreResult<Vec<UsageCell>> {
    let (where_sql, mut args) = conditions(filter);
    args.push(Box::new(i64::from(limit)));
    let sql = format!(
        "SELECT {} AS bucket, project_id, token_id, provider, model, {SUMS} \
         FROM usage_hourly{where_sql} GROUP BY bucket, project_id, token_id, provider, model \
         ORDER BY bucket, project_id, token_id, provider, model LIMIT ?{}",
        bucket(granularity),
        args.len()
    );
    let cells = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(UsageCell {
                start: rows::ts(r, 0)?,
                group: group(r, 1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cells)
}

pub(super) fn spend(
    conn: &Connection,
    project_id: Uuid,
    token_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> StoreResult<Spend> {
    let filter = UsageFilter {
        project_id: Some(project_id),
        token_id,
        ..UsageFilter::default()
    };
    let (mut where_sql, mut args) = conditions(&filter);
    if let Some(since) = since {
        args.push(Box::new(micros(hour_of(since))));
        where_sql.push_str(&format!(" AND hour >= ?{}", args.len()));
    }
    let sql = format!(
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0), \
         COALESCE(SUM(cost_nano_usd), 0) FROM usage_hourly{where_sql}"
    );
    let (tokens, cost): (i64, i64) = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Spend::new(from_i64(tokens), from_i64(cost)))
}

/// Forgets one batch of event ids older than `before`; returns how many.
pub(super) fn prune_seen(conn: &Connection, before: DateTime<Utc>) -> StoreResult<u64> {
    let n = conn
        .prepare_cached(
            "DELETE FROM usage_events_seen WHERE event_id IN (SELECT event_id FROM \
             usage_events_seen WHERE occurred_at < ?1 LIMIT ?2)",
        )?
        .execute(params![micros(before), PRUNE_BATCH])?;
    Ok(n as u64)
}
