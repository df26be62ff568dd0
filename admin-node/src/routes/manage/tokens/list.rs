//! `GET /manage/tokens?project_id=&active=&limit=&offset=`: newest first, secrets obfuscated.

use actix_web::{web, HttpResponse};
use llm_proxy_core::token::TokenFilter;
use serde::Deserialize;

use super::super::views;
use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    project_id: Option<String>,
    active: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> AdminResult<HttpResponse> {
    let filter = TokenFilter {
        project_id: validate::opt_uuid("project_id", query.project_id.as_deref())?,
        active: validate::opt_bool("active", query.active.as_deref())?,
        limit: validate::opt_u32("limit", query.limit.as_deref())?,
        offset: validate::opt_u32("offset", query.offset.as_deref())?,
    };
    let tokens = state.store.list_tokens(&filter).await?;
    let body: Vec<_> = tokens.iter().map(views::token).collect();
    Ok(HttpResponse::Ok().json(body))
}
