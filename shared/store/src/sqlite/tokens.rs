//! SQL for tokens.

use chrono::{DateTime, Utc};
use llm_proxy_core::token::{Token, TokenFilter};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{self, micros, micros_opt, TOKEN_COLUMNS};
use crate::common::{budget_columns, opt_i32, opt_i64, to_i64};
use crate::StoreResult;

pub(super) fn insert(conn: &Connection, t: &Token) -> StoreResult<()> {
    let (period, max_tokens, max_cost) = budget_columns(t.budget.as_ref())?;
    conn.prepare_cached(
        "INSERT INTO tokens (id, project_id, token_hash, obfuscated, expires_at, is_active, \
         deactivated_at, max_requests, request_count, rate_limit_rpm, created_at, last_used_at, \
         budget_period, budget_max_tokens, budget_max_cost_nano_usd) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        t.id.to_string(),
        t.project_id.to_string(),
        t.token_hash,
        t.obfuscated,
        micros_opt(t.expires_at),
        t.is_active,
        micros_opt(t.deactivated_at),
        opt_i64(t.max_requests, "max_requests")?,
        to_i64(t.request_count, "request_count")?,
        opt_i32(t.rate_limit_rpm, "rate_limit_rpm")?,
        micros(t.created_at),
        micros_opt(t.last_used_at),
        period,
        max_tokens,
        max_cost,
    ])?;
    Ok(())
}

/// Writes the columns an update may change.
pub(super) fn update(conn: &Connection, t: &Token) -> StoreResult<()> {
    let (period, max_tokens, max_cost) = budget_columns(t.budget.as_ref())?;
    conn.prepare_cached(
        "UPDATE tokens SET expires_at = ?2, is_active = ?3, deactivated_at = ?4, \
         max_requests = ?5, rate_limit_rpm = ?6, budget_period = ?7, budget_max_tokens = ?8, \
         budget_max_cost_nano_usd = ?9 WHERE id = ?1",
    )?
    .execute(params![
        t.id.to_string(),
        micros_opt(t.expires_at),
        t.is_active,
        micros_opt(t.deactivated_at),
        opt_i64(t.max_requests, "max_requests")?,
        opt_i32(t.rate_limit_rpm, "rate_limit_rpm")?,
        period,
        max_tokens,
        max_cost,
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: Uuid) -> StoreResult<Option<Token>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))?
        .query_row([id.to_string()], rows::token)
        .optional()?)
}

pub(super) fn find_by_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<Token>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?1"
        ))?
        .query_row([token_hash], rows::token)
        .optional()?)
}

pub(super) fn list(conn: &Connection, filter: &TokenFilter) -> StoreResult<Vec<Token>> {
    let mut clauses = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(project_id) = filter.project_id {
        args.push(Box::new(project_id.to_string()));
        clauses.push(format!("project_id = ?{}", args.len()));
    }
    if let Some(active) = filter.active {
        args.push(Box::new(active));
        clauses.push(format!("is_active = ?{}", args.len()));
    }
    let mut sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    args.push(Box::new(filter.limit.map_or(-1, i64::from)));
    args.push(Box::new(filter.offset.map_or(0, i64::from)));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{}",
        args.len() - 1,
        args.len()
    ));
    let tokens = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), rows::token)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(tokens)
}

/// Deactivates every active token of a project; returns their ids.
pub(super) fn revoke_for_project(
    conn: &Connection,
    project_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let ids = conn
        .prepare_cached(
            "UPDATE tokens SET is_active = 0, deactivated_at = ?2 \
             WHERE project_id = ?1 AND is_active = 1 RETURNING id",
        )?
        .query_map(params![project_id.to_string(), micros(at)], |r| {
            rows::uuid(r, 0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

/// Adds `requests` and moves `last_used_at` forward (never back).
pub(super) fn add_usage(
    conn: &Connection,
    id: Uuid,
    requests: u64,
    last_used_at: DateTime<Utc>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE tokens SET request_count = request_count + ?2, \
         last_used_at = max(coalesce(last_used_at, ?3), ?3) WHERE id = ?1",
    )?
    .execute(params![
        id.to_string(),
        to_i64(requests, "requests")?,
        micros(last_used_at)
    ])?;
    Ok(())
}

/// Deactivates active tokens whose expiry has passed; returns `(token_id, project_id)` pairs.
pub(super) fn expire(conn: &Connection, now: DateTime<Utc>) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let expired = conn
        .prepare_cached(
            "UPDATE tokens SET is_active = 0, deactivated_at = ?1 \
             WHERE is_active = 1 AND expires_at IS NOT NULL AND expires_at <= ?1 \
             RETURNING id, project_id",
        )?
        .query_map([micros(now)], |r| {
            Ok((rows::uuid(r, 0)?, rows::uuid(r, 1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(expired)
}

const PRUNABLE: &str = "(expires_at IS NOT NULL AND expires_at < ?1) \
     OR (is_active = 0 AND deactivated_at IS NOT NULL AND deactivated_at < ?1)";

pub(super) fn count_prunable(conn: &Connection, before: DateTime<Utc>) -> StoreResult<u64> {
    let n: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM tokens WHERE {PRUNABLE}"))?
        .query_row([micros(before)], |r| r.get(0))?;
    Ok(crate::common::from_i64(n))
}

/// Deletes prunable tokens; returns `(token_id, project_id)` pairs.
pub(super) fn prune(conn: &Connection, before: DateTime<Utc>) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let deleted = conn
        .prepare_cached(&format!(
            "DELETE FROM tokens WHERE {PRUNABLE} RETURNING id, project_id"
        ))?
        .query_map([micros(before)], |r| {
            Ok((rows::uuid(r, 0)?, rows::uuid(r, 1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(deleted)
}
