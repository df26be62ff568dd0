//! SQL for audit rows.

use llm_proxy_core::audit::{AuditEvent, AuditFilter};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{self, micros, AUDIT_COLUMNS};
use crate::common::audit_limit;
use crate::StoreResult;

pub(super) fn insert(conn: &Connection, e: &AuditEvent) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_events (id, timestamp, action, actor, project_id, token_id, \
         request_id, client_ip, outcome, reason, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        e.id.to_string(),
        micros(e.timestamp),
        e.action,
        e.actor,
        e.project_id.map(|id| id.to_string()),
        e.token_id.map(|id| id.to_string()),
        e.request_id,
        e.client_ip,
        e.outcome.as_str(),
        e.reason,
        e.metadata.to_string(),
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: Uuid) -> StoreResult<Option<AuditEvent>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id = ?1"
        ))?
        .query_row([id.to_string()], rows::audit)
        .optional()?)
}

/// Newest first.
pub(super) fn list(conn: &Connection, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
    let mut clauses = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut push = |clause: &str, arg: Box<dyn ToSql>| {
        args.push(arg);
        clauses.push(format!("{clause} ?{}", args.len()));
    };
    if let Some(action) = &filter.action {
        push("action =", Box::new(action.clone()));
    }
    if let Some(outcome) = filter.outcome {
        push("outcome =", Box::new(outcome.as_str()));
    }
    if let Some(project_id) = filter.project_id {
        push("project_id =", Box::new(project_id.to_string()));
    }
    if let Some(token_id) = filter.token_id {
        push("token_id =", Box::new(token_id.to_string()));
    }
    if let Some(actor) = &filter.actor {
        push("actor =", Box::new(actor.clone()));
    }
    if let Some(request_id) = &filter.request_id {
        push("request_id =", Box::new(request_id.clone()));
    }
    if let Some(since) = filter.since {
        push("timestamp >=", Box::new(micros(since)));
    }
    if let Some(until) = filter.until {
        push("timestamp <", Box::new(micros(until)));
    }
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    args.push(Box::new(i64::from(audit_limit(filter.limit))));
    args.push(Box::new(filter.offset.map_or(0, i64::from)));
    sql.push_str(&format!(
        " ORDER BY timestamp DESC, id DESC LIMIT ?{} OFFSET ?{}",
        args.len() - 1,
        args.len()
    ));
    let events = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), rows::audit)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(events)
}
