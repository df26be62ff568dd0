//! SQL for audit rows.

use deadpool_postgres::GenericClient;
use llm_proxy_core::audit::{AuditEvent, AuditFilter};
use uuid::Uuid;

use super::filter::Where;
use super::rows::{self, AUDIT_COLUMNS};
use crate::common::audit_limit;
use crate::StoreResult;

pub(super) async fn insert(c: &impl GenericClient, e: &AuditEvent) -> StoreResult<()> {
    insert_many(c, std::slice::from_ref(e)).await
}

/// Inserts a batch in one statement.
pub(super) async fn insert_many(c: &impl GenericClient, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let timestamps: Vec<_> = events.iter().map(|e| e.timestamp).collect();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    let projects: Vec<Option<Uuid>> = events.iter().map(|e| e.project_id).collect();
    let tokens: Vec<Option<Uuid>> = events.iter().map(|e| e.token_id).collect();
    let requests: Vec<Option<&str>> = events.iter().map(|e| e.request_id.as_deref()).collect();
    let ips: Vec<Option<&str>> = events.iter().map(|e| e.client_ip.as_deref()).collect();
    let outcomes: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
    let reasons: Vec<Option<&str>> = events.iter().map(|e| e.reason.as_deref()).collect();
    let metadata: Vec<&serde_json::Value> = events.iter().map(|e| &e.metadata).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO audit_events (id, timestamp, action, actor, project_id, token_id, \
             request_id, client_ip, outcome, reason, metadata) \
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], \
             $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[])",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &ids,
            &timestamps,
            &actions,
            &actors,
            &projects,
            &tokens,
            &requests,
            &ips,
            &outcomes,
            &reasons,
            &metadata,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn get(c: &impl GenericClient, id: Uuid) -> StoreResult<Option<AuditEvent>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| rows::audit(&r))
        .transpose()
}

/// Newest first.
pub(super) async fn list(
    c: &impl GenericClient,
    filter: &AuditFilter,
) -> StoreResult<Vec<AuditEvent>> {
    let outcome = filter.outcome.map(|o| o.as_str());
    let limit = i64::from(audit_limit(filter.limit));
    let offset = filter.offset.map_or(0, i64::from);
    let mut w = Where::default();
    if let Some(action) = &filter.action {
        w.push("action =", action);
    }
    if let Some(outcome) = &outcome {
        w.push("outcome =", outcome);
    }
    if let Some(project_id) = &filter.project_id {
        w.push("project_id =", project_id);
    }
    if let Some(token_id) = &filter.token_id {
        w.push("token_id =", token_id);
    }
    if let Some(actor) = &filter.actor {
        w.push("actor =", actor);
    }
    if let Some(request_id) = &filter.request_id {
        w.push("request_id =", request_id);
    }
    if let Some(since) = &filter.since {
        w.push("timestamp >=", since);
    }
    if let Some(until) = &filter.until {
        w.push("timestamp <", until);
    }
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events{} ORDER BY timestamp DESC, id DESC \
         LIMIT {} OFFSET {}",
        w.sql(),
        w.param(&limit),
        w.param(&offset)
    );
    let args = w.args;
    let stmt = c.prepare_cached(&sql).await?;
    rows::all(&c.query(&stmt, &args).await?, rows::audit)
}
