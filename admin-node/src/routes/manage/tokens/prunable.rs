//! `GET /manage/tokens/prunable?expired_before=`: how many tokens `POST /manage/tokens/prune`
//! would delete now (expired, or deactivated, before the cut-off).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::auth::ManagementAuth;
use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    expired_before: Option<String>,
}

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> AdminResult<HttpResponse> {
    let before = expired_before(query.expired_before.as_deref())?;
    let count = state.store.count_prunable_tokens(before).await?;
    Ok(HttpResponse::Ok().json(json!({ "expired_before": before, "count": count })))
}

/// Required; RFC 3339 or a date (midnight UTC); not in the future, where it would take tokens
/// that are still valid.
pub fn expired_before(value: Option<&str>) -> AdminResult<DateTime<Utc>> {
    let value = value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| AdminError::invalid("expired_before", "`expired_before` is required"))?;
    let before = validate::timestamp("expired_before", value)?;
    if before > Utc::now() {
        return Err(AdminError::invalid(
            "expired_before",
            "`expired_before` must not be in the future: tokens still valid would be deleted",
        ));
    }
    Ok(before)
}
