//! `GET /manage/projects?active=&limit=&offset=`

use actix_web::{web, HttpResponse};
use llm_proxy_store::ProjectFilter;
use serde::Deserialize;

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    active: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> AdminResult<HttpResponse> {
    let filter = ProjectFilter {
        active: validate::opt_bool("active", query.active.as_deref())?,
        limit: validate::opt_u32("limit", query.limit.as_deref())?,
        offset: validate::opt_u32("offset", query.offset.as_deref())?,
    };
    let projects = state.store.list_projects(&filter).await?;
    Ok(HttpResponse::Ok().json(projects))
}
