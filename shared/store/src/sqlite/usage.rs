//! SQL for the hourly usage ledger.

use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection};
use uuid::Uuid;

use super::rows::{self, micros};
use crate::common::{from_i64, to_i64, token_from_ledger, usage_window, UsageKey, UsageTotals};
use crate::{StoreResult, UsageFilter, UsageRow};

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
         prompt_tokens, completion_tokens, cached_tokens) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (project_id, token_id, provider, model, hour) DO UPDATE SET \
         requests = requests + excluded.requests, errors = errors + excluded.errors, \
         prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
         completion_tokens = completion_tokens + excluded.completion_tokens, \
         cached_tokens = cached_tokens + excluded.cached_tokens",
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
    ])?;
    Ok(())
}

pub(super) fn summary(conn: &Connection, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
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
    let (after, before) = usage_window(filter.since, filter.until);
    if let Some(after) = after {
        push("hour >", Box::new(micros(after)));
    }
    if let Some(before) = before {
        push("hour <", Box::new(micros(before)));
    }
    let mut sql = "SELECT project_id, token_id, SUM(requests), SUM(errors), SUM(prompt_tokens), \
                   SUM(completion_tokens), SUM(cached_tokens) FROM usage_hourly"
        .to_owned();
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" GROUP BY project_id, token_id ORDER BY project_id, token_id");
    let summary = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(UsageRow {
                project_id: rows::uuid(r, 0)?,
                token_id: token_from_ledger(rows::uuid(r, 1)?),
                requests: from_i64(r.get(2)?),
                errors: from_i64(r.get(3)?),
                prompt_tokens: from_i64(r.get(4)?),
                completion_tokens: from_i64(r.get(5)?),
                cached_tokens: from_i64(r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(summary)
}
