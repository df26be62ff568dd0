//! `GET /manage/usage?project_id=&token_id=&model=&from=&to=&group_by=hour|day`
//!
//! Two sources, named in the answer:
//! - the usage ledger: hourly roll-ups of the proxy's request events (idempotent per event
//!   id), with cost from the price table: `totals`, `series` (one point per hour or UTC day
//!   that saw usage), `models` and `projects` (with their tokens) over the window. A bucket
//!   counts when its hour overlaps the window.
//! - `token_counters`: each token's lifetime `request_count` and `last_used_at` from the tokens
//!   table (the admission counter; not windowed), for the tokens the filter selects (at most
//!   1000).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use llm_proxy_core::token::TokenFilter;
use serde_json::json;

use super::query::UsageParams;
use super::report::{self, Totals};
use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;

const MAX_COUNTERS: u32 = 1000;

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    params: web::Query<UsageParams>,
) -> AdminResult<HttpResponse> {
    let query = params.parse(Utc::now())?;
    let filter = &query.filter;
    let store = &state.store;
    let (series, groups) = futures_util::future::try_join(
        store.usage_series(filter, query.granularity),
        store.usage_breakdown(filter),
    )
    .await?;
    let totals = report::sum(groups.iter().map(|g| g.totals));

    let counters = match filter.token_id {
        Some(id) => vec![store.get_token(id).await?],
        None => {
            store
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
        "filter": {
            "project_id": filter.project_id,
            "token_id": filter.token_id,
            "model": filter.model,
        },
        "group_by": query.granularity,
        "sources": {
            "usage": "usage_ledger: hourly roll-ups of proxied request events, cost from the price table",
            "token_counters": "tokens table: lifetime request_count and last_used_at, not windowed",
        },
        "totals": Totals::from(&totals),
        "series": report::series(&series),
        "models": report::models(&groups),
        "projects": report::projects(&groups),
        "token_counters": counters,
    })))
}
