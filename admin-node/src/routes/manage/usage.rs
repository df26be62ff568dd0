//! `GET /manage/usage?project_id=&token_id=&since=&until=`
//!
//! Two sources, named in the answer:
//! - `usage_ledger`: the store's hourly usage ledger, fed from the proxy's request events
//!   (idempotent per event id). Requests, errors and LLM tokens per project and token over the
//!   window; `since`/`until` fall on hour buckets (an hour counts when it starts inside the
//!   window).
//! - `token_counters`: each token's lifetime `request_count` and `last_used_at` from the tokens
//!   table (the admission counter; not windowed), for the tokens the filter selects (at most
//!   1000).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use llm_proxy_core::token::TokenFilter;
use llm_proxy_store::{UsageFilter, UsageRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;
use crate::validate;

const MAX_COUNTERS: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    project_id: Option<String>,
    token_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub total_tokens: u64,
}

impl Totals {
    pub fn add(&mut self, row: &UsageRow) {
        self.requests += row.requests;
        self.errors += row.errors;
        self.prompt_tokens += row.prompt_tokens;
        self.completion_tokens += row.completion_tokens;
        self.cached_tokens += row.cached_tokens;
        self.total_tokens += row.prompt_tokens + row.completion_tokens;
    }

    pub fn of(rows: &[UsageRow]) -> Self {
        let mut totals = Self::default();
        for row in rows {
            totals.add(row);
        }
        totals
    }
}

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> AdminResult<HttpResponse> {
    let filter = UsageFilter {
        project_id: validate::opt_uuid("project_id", query.project_id.as_deref())?,
        token_id: validate::opt_uuid("token_id", query.token_id.as_deref())?,
        since: validate::opt_timestamp("since", query.since.as_deref())?,
        until: validate::opt_timestamp("until", query.until.as_deref())?,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if until < since {
            return Err(crate::error::AdminError::invalid(
                "until",
                "`until` must not be before `since`",
            ));
        }
    }
    let rows = state.store.usage_summary(&filter).await?;

    let mut projects: BTreeMap<Uuid, (Totals, Vec<serde_json::Value>)> = BTreeMap::new();
    for row in &rows {
        let entry = projects.entry(row.project_id).or_default();
        entry.0.add(row);
        let mut per_token = Totals::default();
        per_token.add(row);
        entry
            .1
            .push(json!({ "token_id": row.token_id, "usage": per_token }));
    }
    let projects: Vec<_> = projects
        .into_iter()
        .map(|(project_id, (totals, tokens))| {
            json!({ "project_id": project_id, "usage": totals, "tokens": tokens })
        })
        .collect();

    let counters = match filter.token_id {
        Some(id) => vec![state.store.get_token(id).await?],
        None => {
            state
                .store
                .list_tokens(&TokenFilter {
                    project_id: filter.project_id,
                    active: None,
                    limit: Some(MAX_COUNTERS),
                    offset: None,
                })
                .await?
        }
    };
    let counters: Vec<_> = counters
        .iter()
        .map(|t| {
            json!({
                "token_id": t.id,
                "project_id": t.project_id,
                "request_count": t.request_count,
                "max_requests": t.max_requests,
                "last_used_at": t.last_used_at,
                "is_active": t.is_active,
            })
        })
        .collect();

    Ok(HttpResponse::Ok().json(json!({
        "window": { "since": filter.since, "until": filter.until },
        "sources": {
            "usage": "usage_ledger: hourly roll-ups of proxied request events",
            "token_counters": "tokens table: lifetime request_count and last_used_at, not windowed",
        },
        "totals": Totals::of(&rows),
        "projects": projects,
        "token_counters": counters,
    })))
}
