//! `GET /manage/audit?action=&outcome=&project_id=&token_id=&actor=&request_id=&since=&until=
//! &limit=&offset=` → `{events, pagination: {limit, offset, count, has_more}}`, newest first.

use actix_web::{web, HttpResponse};
use llm_proxy_core::audit::{AuditFilter, AuditOutcome};
use serde::Deserialize;
use serde_json::json;

use crate::auth::ManagementAuth;
use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;
use crate::validate;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub project_id: Option<String>,
    pub token_id: Option<String>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The store filter (without limit/offset) and the page asked for.
pub fn parse(query: &Query) -> AdminResult<(AuditFilter, u32, u32)> {
    let outcome = match non_empty(&query.outcome) {
        None => None,
        Some(o) => Some(AuditOutcome::parse(&o).ok_or_else(|| {
            AdminError::invalid("outcome", "`outcome` must be success or failure")
        })?),
    };
    let limit = validate::opt_u32("limit", query.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::invalid(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let offset = validate::opt_u32("offset", query.offset.as_deref())?.unwrap_or(0);
    let filter = AuditFilter {
        action: non_empty(&query.action),
        outcome,
        project_id: validate::opt_uuid("project_id", query.project_id.as_deref())?,
        token_id: validate::opt_uuid("token_id", query.token_id.as_deref())?,
        actor: non_empty(&query.actor),
        request_id: non_empty(&query.request_id),
        since: validate::opt_timestamp("since", query.since.as_deref())?,
        until: validate::opt_timestamp("until", query.until.as_deref())?,
        limit: None,
        offset: None,
    };
    Ok((filter, limit, offset))
}

/// One page of audit events and whether more follow.
pub async fn page(
    state: &AdminState,
    mut filter: AuditFilter,
    limit: u32,
    offset: u32,
) -> AdminResult<(Vec<llm_proxy_core::audit::AuditEvent>, bool)> {
    filter.limit = Some(limit + 1);
    filter.offset = Some(offset);
    let mut events = state.store.list_audit(&filter).await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    Ok((events, has_more))
}

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> AdminResult<HttpResponse> {
    let (filter, limit, offset) = parse(&query)?;
    let (events, has_more) = page(&state, filter, limit, offset).await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": events,
        "pagination": {
            "limit": limit,
            "offset": offset,
            "count": events.len(),
            "has_more": has_more,
        }
    })))
}
