//! Column encodings (UUID as TEXT, time as INTEGER microseconds) and the one mapping per row type.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::audit::{AuditEvent, AuditOutcome};
use llm_proxy_core::project::Project;
use llm_proxy_core::token::Token;
use rusqlite::types::Type;
use rusqlite::Row;
use uuid::Uuid;

use crate::common::{budget_from_columns, disconnect_from_column, from_i32, from_i64};

pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn micros_opt(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(micros)
}

fn conversion(
    idx: usize,
    ty: Type,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("timestamp out of range: {0}")]
struct TimestampRange(i64);

#[derive(Debug, thiserror::Error)]
#[error("unknown audit outcome {0:?}")]
struct UnknownOutcome(String);

pub(super) fn uuid(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let text = row.get_ref(idx)?.as_str()?;
    Uuid::parse_str(text).map_err(|e| conversion(idx, Type::Text, e))
}

pub(super) fn uuid_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
    match row.get_ref(idx)?.as_str_or_null()? {
        Some(text) => Uuid::parse_str(text)
            .map(Some)
            .map_err(|e| conversion(idx, Type::Text, e)),
        None => Ok(None),
    }
}

pub(super) fn ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let v: i64 = row.get(idx)?;
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| conversion(idx, Type::Integer, TimestampRange(v)))
}

pub(super) fn ts_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| {
        DateTime::from_timestamp_micros(v)
            .ok_or_else(|| conversion(idx, Type::Integer, TimestampRange(v)))
    })
    .transpose()
}

pub(super) const PROJECT_COLUMNS: &str =
    "id, name, is_active, deactivated_at, rate_limit_rpm, created_at, updated_at, \
     budget_period, budget_max_tokens, budget_max_cost_nano_usd, on_disconnect";

/// A project without its provider hints (they come from their own table).
pub(super) fn project(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: uuid(row, 0)?,
        name: row.get(1)?,
        is_active: row.get(2)?,
        deactivated_at: ts_opt(row, 3)?,
        rate_limit_rpm: row.get::<_, Option<i32>>(4)?.map(from_i32),
        created_at: ts(row, 5)?,
        updated_at: ts(row, 6)?,
        budget: budget_from_columns(
            row.get::<_, Option<String>>(7)?.as_deref(),
            row.get(8)?,
            row.get(9)?,
        ),
        on_disconnect: disconnect_from_column(&row.get::<_, String>(10)?),
        providers: BTreeMap::new(),
    })
}

pub(super) const TOKEN_COLUMNS: &str = "id, project_id, token_hash, obfuscated, expires_at, \
     is_active, deactivated_at, max_requests, request_count, rate_limit_rpm, created_at, \
     last_used_at, budget_period, budget_max_tokens, budget_max_cost_nano_usd";

pub(super) fn token(row: &Row<'_>) -> rusqlite::Result<Token> {
    Ok(Token {
        id: uuid(row, 0)?,
        project_id: uuid(row, 1)?,
        token_hash: row.get(2)?,
        obfuscated: row.get(3)?,
        expires_at: ts_opt(row, 4)?,
        is_active: row.get(5)?,
        deactivated_at: ts_opt(row, 6)?,
        max_requests: row.get::<_, Option<i64>>(7)?.map(from_i64),
        request_count: from_i64(row.get(8)?),
        rate_limit_rpm: row.get::<_, Option<i32>>(9)?.map(from_i32),
        created_at: ts(row, 10)?,
        last_used_at: ts_opt(row, 11)?,
        budget: budget_from_columns(
            row.get::<_, Option<String>>(12)?.as_deref(),
            row.get(13)?,
            row.get(14)?,
        ),
    })
}

pub(super) const AUDIT_COLUMNS: &str = "id, timestamp, action, actor, project_id, token_id, \
     request_id, client_ip, outcome, reason, metadata";

pub(super) fn audit(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let outcome: String = row.get(8)?;
    let metadata: String = row.get(10)?;
    Ok(AuditEvent {
        id: uuid(row, 0)?,
        timestamp: ts(row, 1)?,
        action: row.get(2)?,
        actor: row.get(3)?,
        project_id: uuid_opt(row, 4)?,
        token_id: uuid_opt(row, 5)?,
        request_id: row.get(6)?,
        client_ip: row.get(7)?,
        outcome: AuditOutcome::parse(&outcome)
            .ok_or_else(|| conversion(8, Type::Text, UnknownOutcome(outcome.clone())))?,
        reason: row.get(9)?,
        metadata: serde_json::from_str(&metadata).map_err(|e| conversion(10, Type::Text, e))?,
    })
}
