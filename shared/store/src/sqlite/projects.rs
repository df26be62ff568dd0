//! SQL for projects and their encrypted provider keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::project::{Project, ProviderKeyInfo};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{self, micros, micros_opt, PROJECT_COLUMNS};
use crate::common::{budget_columns, opt_i32};
use crate::{ProjectFilter, StoreResult};

pub(super) fn insert(conn: &Connection, p: &Project) -> StoreResult<()> {
    let (period, max_tokens, max_cost) = budget_columns(p.budget.as_ref())?;
    conn.prepare_cached(
        "INSERT INTO projects (id, name, is_active, deactivated_at, rate_limit_rpm, created_at, \
         updated_at, budget_period, budget_max_tokens, budget_max_cost_nano_usd, on_disconnect) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        p.id.to_string(),
        p.name,
        p.is_active,
        micros_opt(p.deactivated_at),
        opt_i32(p.rate_limit_rpm, "rate_limit_rpm")?,
        micros(p.created_at),
        micros(p.updated_at),
        period,
        max_tokens,
        max_cost,
        p.on_disconnect.as_str(),
    ])?;
    Ok(())
}

/// Writes every column but `id` and `created_at`.
pub(super) fn update(conn: &Connection, p: &Project) -> StoreResult<()> {
    let (period, max_tokens, max_cost) = budget_columns(p.budget.as_ref())?;
    conn.prepare_cached(
        "UPDATE projects SET name = ?2, is_active = ?3, deactivated_at = ?4, rate_limit_rpm = ?5, \
         updated_at = ?6, budget_period = ?7, budget_max_tokens = ?8, \
         budget_max_cost_nano_usd = ?9, on_disconnect = ?10 WHERE id = ?1",
    )?
    .execute(params![
        p.id.to_string(),
        p.name,
        p.is_active,
        micros_opt(p.deactivated_at),
        opt_i32(p.rate_limit_rpm, "rate_limit_rpm")?,
        micros(p.updated_at),
        period,
        max_tokens,
        max_cost,
        p.on_disconnect.as_str(),
    ])?;
    Ok(())
}

/// The project with its provider hints.
pub(super) fn get(conn: &Connection, id: Uuid) -> StoreResult<Option<Project>> {
    let project = conn
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"
        ))?
        .query_row([id.to_string()], rows::project)
        .optional()?;
    match project {
        Some(mut p) => {
            p.providers = key_hints(conn, id)?;
            Ok(Some(p))
        }
        None => Ok(None),
    }
}

pub(super) fn list(conn: &Connection, filter: &ProjectFilter) -> StoreResult<Vec<Project>> {
    let mut projects = conn
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE (?1 IS NULL OR is_active = ?1) \
             ORDER BY name LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(
            params![
                filter.active,
                filter.limit.map_or(-1, i64::from),
                filter.offset.map_or(0, i64::from),
            ],
            rows::project,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for p in &mut projects {
        p.providers = key_hints(conn, p.id)?;
    }
    Ok(projects)
}

fn key_hints(
    conn: &Connection,
    project_id: Uuid,
) -> StoreResult<BTreeMap<String, ProviderKeyInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider, key_hint, updated_at FROM project_provider_keys WHERE project_id = ?1",
    )?;
    let hints = stmt
        .query_map([project_id.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                ProviderKeyInfo {
                    key_hint: row.get(1)?,
                    updated_at: rows::ts(row, 2)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(hints)
}

pub(super) fn upsert_key(
    conn: &Connection,
    project_id: Uuid,
    provider: &str,
    ciphertext: &[u8],
    key_hint: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO project_provider_keys (project_id, provider, ciphertext, key_hint, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project_id, provider) DO UPDATE SET \
         ciphertext = excluded.ciphertext, key_hint = excluded.key_hint, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![
        project_id.to_string(),
        provider,
        ciphertext,
        key_hint,
        micros(at)
    ])?;
    Ok(())
}

pub(super) fn key_ciphertext(
    conn: &Connection,
    project_id: Uuid,
    provider: &str,
) -> StoreResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached(
            "SELECT ciphertext FROM project_provider_keys WHERE project_id = ?1 AND provider = ?2",
        )?
        .query_row(params![project_id.to_string(), provider], |r| r.get(0))
        .optional()?)
}

/// Any one stored key, to check the deployment's encryption key against.
pub(super) fn any_ciphertext(conn: &Connection) -> StoreResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT ciphertext FROM project_provider_keys LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}
