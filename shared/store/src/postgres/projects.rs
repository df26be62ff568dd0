//! SQL for projects and their encrypted provider keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use llm_proxy_core::project::{Project, ProviderKeyInfo};
use uuid::Uuid;

use super::rows::{self, PROJECT_COLUMNS};
use crate::common::{budget_columns, opt_i32};
use crate::{ProjectFilter, StoreResult};

pub(super) async fn insert(tx: &Transaction<'_>, p: &Project) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO projects (id, name, is_active, deactivated_at, rate_limit_rpm, \
             created_at, updated_at, budget_period, budget_max_tokens, budget_max_cost_nano_usd, \
             on_disconnect) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    let (period, max_tokens, max_cost) = budget_columns(p.budget.as_ref())?;
    tx.execute(
        &stmt,
        &[
            &p.id,
            &p.name,
            &p.is_active,
            &p.deactivated_at,
            &opt_i32(p.rate_limit_rpm, "rate_limit_rpm")?,
            &p.created_at,
            &p.updated_at,
            &period,
            &max_tokens,
            &max_cost,
            &p.on_disconnect.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// Writes every column but `id` and `created_at`.
pub(super) async fn update(tx: &Transaction<'_>, p: &Project) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE projects SET name = $2, is_active = $3, deactivated_at = $4, \
             rate_limit_rpm = $5, updated_at = $6, budget_period = $7, budget_max_tokens = $8, \
             budget_max_cost_nano_usd = $9, on_disconnect = $10 WHERE id = $1",
        )
        .await?;
    let (period, max_tokens, max_cost) = budget_columns(p.budget.as_ref())?;
    tx.execute(
        &stmt,
        &[
            &p.id,
            &p.name,
            &p.is_active,
            &p.deactivated_at,
            &opt_i32(p.rate_limit_rpm, "rate_limit_rpm")?,
            &p.updated_at,
            &period,
            &max_tokens,
            &max_cost,
            &p.on_disconnect.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// The project with its provider hints.
pub(super) async fn get(c: &impl GenericClient, id: Uuid) -> StoreResult<Option<Project>> {
    fetch(c, id, "").await
}

/// Like [`get`], locking the row until the transaction ends.
pub(super) async fn get_for_update(tx: &Transaction<'_>, id: Uuid) -> StoreResult<Option<Project>> {
    fetch(tx, id, " FOR UPDATE").await
}

/// Like [`get`], holding a share lock: a concurrent deactivation waits, other readers and
/// token creations do not.
pub(super) async fn get_for_share(tx: &Transaction<'_>, id: Uuid) -> StoreResult<Option<Project>> {
    fetch(tx, id, " FOR SHARE").await
}

async fn fetch(c: &impl GenericClient, id: Uuid, lock: &str) -> StoreResult<Option<Project>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1{lock}"
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&id]).await? else {
        return Ok(None);
    };
    let mut project = rows::project(&row)?;
    project.providers = key_hints(c, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(Some(project))
}

pub(super) async fn list(
    c: &impl GenericClient,
    filter: &ProjectFilter,
) -> StoreResult<Vec<Project>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE ($1::boolean IS NULL OR is_active = $1) \
             ORDER BY name LIMIT $2 OFFSET $3"
        ))
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &filter.active,
                &filter.limit.map(i64::from),
                &filter.offset.map_or(0, i64::from),
            ],
        )
        .await?;
    let mut projects = rows::all(&rows, rows::project)?;
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let mut hints = key_hints(c, &ids).await?;
    for p in &mut projects {
        p.providers = hints.remove(&p.id).unwrap_or_default();
    }
    Ok(projects)
}

type Hints = BTreeMap<String, ProviderKeyInfo>;

async fn key_hints(c: &impl GenericClient, ids: &[Uuid]) -> StoreResult<BTreeMap<Uuid, Hints>> {
    let stmt = c
        .prepare_cached(
            "SELECT project_id, provider, key_hint, updated_at FROM project_provider_keys \
             WHERE project_id = ANY($1)",
        )
        .await?;
    let mut hints: BTreeMap<Uuid, Hints> = BTreeMap::new();
    for row in c.query(&stmt, &[&ids]).await? {
        hints.entry(row.try_get(0)?).or_default().insert(
            row.try_get(1)?,
            ProviderKeyInfo {
                key_hint: row.try_get(2)?,
                updated_at: row.try_get(3)?,
            },
        );
    }
    Ok(hints)
}

pub(super) async fn upsert_key(
    tx: &Transaction<'_>,
    project_id: Uuid,
    provider: &str,
    ciphertext: &[u8],
    key_hint: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO project_provider_keys (project_id, provider, ciphertext, key_hint, \
             updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, provider) DO UPDATE \
             SET ciphertext = EXCLUDED.ciphertext, key_hint = EXCLUDED.key_hint, \
             updated_at = EXCLUDED.updated_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&project_id, &provider, &ciphertext, &key_hint, &at],
    )
    .await?;
    Ok(())
}

pub(super) async fn key_ciphertext(
    c: &impl GenericClient,
    project_id: Uuid,
    provider: &str,
) -> StoreResult<Option<Vec<u8>>> {
    let stmt = c
        .prepare_cached(
            "SELECT ciphertext FROM project_provider_keys WHERE project_id = $1 AND provider = $2",
        )
        .await?;
    let row = c.query_opt(&stmt, &[&project_id, &provider]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Any one stored key, to check the deployment's encryption key against.
pub(super) async fn any_ciphertext(c: &impl GenericClient) -> StoreResult<Option<Vec<u8>>> {
    let row = c
        .query_opt("SELECT ciphertext FROM project_provider_keys LIMIT 1", &[])
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
