//! The one mapping per row type.

use std::collections::BTreeMap;

use llm_proxy_core::audit::{AuditEvent, AuditOutcome};
use llm_proxy_core::project::Project;
use llm_proxy_core::token::Token;
use tokio_postgres::Row;

use crate::common::{budget_from_columns, disconnect_from_column, from_i32, from_i64};
use crate::{StoreError, StoreResult};

pub(super) const PROJECT_COLUMNS: &str =
    "id, name, is_active, deactivated_at, rate_limit_rpm, created_at, updated_at, \
     budget_period, budget_max_tokens, budget_max_cost_nano_usd, on_disconnect";

/// A project without its provider hints (they come from their own table).
pub(super) fn project(row: &Row) -> StoreResult<Project> {
    Ok(Project {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        is_active: row.try_get(2)?,
        deactivated_at: row.try_get(3)?,
        rate_limit_rpm: row.try_get::<_, Option<i32>>(4)?.map(from_i32),
        created_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
        budget: budget_from_columns(row.try_get(7)?, row.try_get(8)?, row.try_get(9)?),
        on_disconnect: disconnect_from_column(row.try_get(10)?),
        providers: BTreeMap::new(),
    })
}

pub(super) const TOKEN_COLUMNS: &str = "id, project_id, token_hash, obfuscated, expires_at, \
     is_active, deactivated_at, max_requests, request_count, rate_limit_rpm, created_at, \
     last_used_at, budget_period, budget_max_tokens, budget_max_cost_nano_usd";

pub(super) fn token(row: &Row) -> StoreResult<Token> {
    Ok(Token {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        token_hash: row.try_get(2)?,
        obfuscated: row.try_get(3)?,
        expires_at: row.try_get(4)?,
        is_active: row.try_get(5)?,
        deactivated_at: row.try_get(6)?,
        max_requests: row.try_get::<_, Option<i64>>(7)?.map(from_i64),
        request_count: from_i64(row.try_get(8)?),
        rate_limit_rpm: row.try_get::<_, Option<i32>>(9)?.map(from_i32),
        created_at: row.try_get(10)?,
        last_used_at: row.try_get(11)?,
        budget: budget_from_columns(row.try_get(12)?, row.try_get(13)?, row.try_get(14)?),
    })
}

pub(super) const AUDIT_COLUMNS: &str = "id, timestamp, action, actor, project_id, token_id, \
     request_id, client_ip, outcome, reason, metadata";

pub(super) fn audit(row: &Row) -> StoreResult<AuditEvent> {
    let outcome: &str = row.try_get(8)?;
    Ok(AuditEvent {
        id: row.try_get(0)?,
        timestamp: row.try_get(1)?,
        action: row.try_get(2)?,
        actor: row.try_get(3)?,
        project_id: row.try_get(4)?,
        token_id: row.try_get(5)?,
        request_id: row.try_get(6)?,
        client_ip: row.try_get(7)?,
        outcome: AuditOutcome::parse(outcome)
            .ok_or_else(|| StoreError::Internal(format!("unknown audit outcome {outcome:?}")))?,
        reason: row.try_get(9)?,
        metadata: row.try_get(10)?,
    })
}

pub(super) fn all<T>(rows: &[Row], map: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(map).collect()
}
