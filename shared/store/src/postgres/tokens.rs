//! SQL for tokens.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use llm_proxy_core::token::{Token, TokenFilter};
use uuid::Uuid;

use super::filter::Where;
use super::rows::{self, TOKEN_COLUMNS};
use crate::common::{budget_columns, from_i64, opt_i32, opt_i64, to_i64};
use crate::StoreResult;

pub(super) async fn insert(tx: &Transaction<'_>, t: &Token) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO tokens (id, project_id, token_hash, obfuscated, expires_at, is_active, \
             deactivated_at, max_requests, request_count, rate_limit_rpm, created_at, \
             last_used_at, budget_period, budget_max_tokens, budget_max_cost_nano_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .await?;
    let (period, max_tokens, max_cost) = budget_columns(t.budget.as_ref())?;
    tx.execute(
        &stmt,
        &[
            &t.id,
            &t.project_id,
            &t.token_hash,
            &t.obfuscated,
            &t.expires_at,
            &t.is_active,
            &t.deactivated_at,
            &opt_i64(t.max_requests, "max_requests")?,
            &to_i64(t.request_count, "request_count")?,
            &opt_i32(t.rate_limit_rpm, "rate_limit_rpm")?,
            &t.created_at,
            &t.last_used_at,
            &period,
            &max_tokens,
            &max_cost,
        ],
    )
    .await?;
    Ok(())
}

/// Writes the columns an update may change.
pub(super) async fn update(tx: &Transaction<'_>, t: &Token) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE tokens SET expires_at = $2, is_active = $3, deactivated_at = $4, \
             max_requests = $5, rate_limit_rpm = $6, budget_period = $7, budget_max_tokens = $8, \
             budget_max_cost_nano_usd = $9 WHERE id = $1",
        )
        .await?;
    let (period, max_tokens, max_cost) = budget_columns(t.budget.as_ref())?;
    tx.execute(
        &stmt,
        &[
            &t.id,
            &t.expires_at,
            &t.is_active,
            &t.deactivated_at,
            &opt_i64(t.max_requests, "max_requests")?,
            &opt_i32(t.rate_limit_rpm, "rate_limit_rpm")?,
            &period,
            &max_tokens,
            &max_cost,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn get(c: &impl GenericClient, id: Uuid) -> StoreResult<Option<Token>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| rows::token(&r))
        .transpose()
}

/// Like [`get`], locking the row until the transaction ends.
pub(super) async fn get_for_update(tx: &Transaction<'_>, id: Uuid) -> StoreResult<Option<Token>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1 FOR UPDATE"
        ))
        .await?;
    tx.query_opt(&stmt, &[&id])
        .await?
        .map(|r| rows::token(&r))
        .transpose()
}

pub(super) async fn find_by_hash(
    c: &impl GenericClient,
    token_hash: &str,
) -> StoreResult<Option<Token>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&token_hash])
        .await?
        .map(|r| rows::token(&r))
        .transpose()
}

pub(super) async fn list(c: &impl GenericClient, filter: &TokenFilter) -> StoreResult<Vec<Token>> {
    let limit = filter.limit.map(i64::from);
    let offset = filter.offset.map_or(0, i64::from);
    let mut w = Where::default();
    if let Some(project_id) = &filter.project_id {
        w.push("project_id =", project_id);
    }
    if let Some(active) = &filter.active {
        w.push("is_active =", active);
    }
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens{} ORDER BY created_at DESC, id DESC \
         LIMIT {} OFFSET {}",
        w.sql(),
        w.param(&limit),
        w.param(&offset)
    );
    let args = w.args;
    let stmt = c.prepare_cached(&sql).await?;
    rows::all(&c.query(&stmt, &args).await?, rows::token)
}

/// Deactivates every active token of a project; returns their ids.
pub(super) async fn revoke_for_project(
    tx: &Transaction<'_>,
    project_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let stmt = tx
        .prepare_cached(
            "UPDATE tokens SET is_active = FALSE, deactivated_at = $2 \
             WHERE project_id = $1 AND is_active RETURNING id",
        )
        .await?;
    let rows = tx.query(&stmt, &[&project_id, &at]).await?;
    let mut ids = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<Uuid>, _>>()?;
    ids.sort();
    Ok(ids)
}

/// Adds request counts and moves `last_used_at` forward (never back) for a batch of tokens,
/// given sorted by id. Rows are locked in id order first so concurrent batches cannot deadlock.
pub(super) async fn add_usage(
    tx: &Transaction<'_>,
    ids: &[Uuid],
    requests: &[i64],
    last_used: &[DateTime<Utc>],
) -> StoreResult<()> {
    let lock = tx
        .prepare_cached("SELECT id FROM tokens WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .await?;
    tx.query(&lock, &[&ids]).await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE tokens AS t SET request_count = t.request_count + u.requests, \
             last_used_at = GREATEST(t.last_used_at, u.last_used_at) \
             FROM unnest($1::uuid[], $2::int8[], $3::timestamptz[]) AS u(id, requests, last_used_at) \
             WHERE t.id = u.id",
        )
        .await?;
    tx.execute(&stmt, &[&ids, &requests, &last_used]).await?;
    Ok(())
}

/// Deactivates active tokens whose expiry has passed; returns `(token_id, project_id)` pairs.
pub(super) async fn expire(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let stmt = tx
        .prepare_cached(
            "UPDATE tokens SET is_active = FALSE, deactivated_at = $1 \
             WHERE is_active AND expires_at <= $1 RETURNING id, project_id",
        )
        .await?;
    pairs(&tx.query(&stmt, &[&now]).await?)
}

const PRUNABLE: &str = "expires_at < $1 OR (NOT is_active AND deactivated_at < $1)";

pub(super) async fn count_prunable(
    c: &impl GenericClient,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached(&format!("SELECT COUNT(*) FROM tokens WHERE {PRUNABLE}"))
        .await?;
    let n: i64 = c.query_one(&stmt, &[&before]).await?.try_get(0)?;
    Ok(from_i64(n))
}

/// Deletes prunable tokens; returns `(token_id, project_id)` pairs.
pub(super) async fn prune(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let stmt = tx
        .prepare_cached(&format!(
            "DELETE FROM tokens WHERE {PRUNABLE} RETURNING id, project_id"
        ))
        .await?;
    pairs(&tx.query(&stmt, &[&before]).await?)
}

fn pairs(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let mut pairs = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    pairs.sort();
    Ok(pairs)
}
