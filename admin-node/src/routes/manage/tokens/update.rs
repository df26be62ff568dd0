//! `PATCH /manage/tokens/{id}` `{is_active?, max_requests?, rate_limit_rpm?, duration_minutes?,
//! expires_at?, budget?}` → 200 token. `duration_minutes` sets the expiry that many minutes
//! from now; `budget: null` removes the token's budget.

use actix_web::{web, HttpResponse};
use chrono::{TimeDelta, Utc};
use llm_proxy_core::token::TokenUpdate;
use serde_json::Value;

use super::super::views;
use crate::auth::ManagementAuth;
use crate::error::{AdminError, AdminResult};
use crate::ops;
use crate::state::AdminState;
use crate::validate::{self, JsonObject};

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> AdminResult<HttpResponse> {
    let id = validate::uuid("id", &id)?;
    let body = JsonObject::parse(
        body.into_inner(),
        &[
            "is_active",
            "max_requests",
            "rate_limit_rpm",
            "duration_minutes",
            "expires_at",
            "budget",
        ],
    )?;
    if body.has("duration_minutes") && body.has("expires_at") {
        return Err(AdminError::invalid(
            "expires_at",
            "give either `duration_minutes` or `expires_at`, not both",
        ));
    }
    let expires_at = match (
        body.integer("duration_minutes")?,
        body.string("expires_at")?,
    ) {
        (Some(minutes), _) => {
            let minutes = validate::duration_minutes(minutes)?;
            Some(Some(Utc::now() + TimeDelta::minutes(i64::from(minutes))))
        }
        (None, Some(at)) => Some(Some(validate::timestamp("expires_at", &at)?)),
        (None, None) if body.has("duration_minutes") => {
            return Err(AdminError::invalid(
                "duration_minutes",
                "`duration_minutes` must be an integer",
            ))
        }
        (None, None) if body.has("expires_at") => {
            return Err(AdminError::invalid(
                "expires_at",
                "`expires_at` cannot be cleared: tokens always expire",
            ))
        }
        (None, None) => None,
    };
    let update = TokenUpdate {
        is_active: body.bool("is_active")?,
        expires_at,
        max_requests: body.nullable_positive("max_requests")?,
        rate_limit_rpm: body
            .nullable_positive("rate_limit_rpm")?
            .map(|v| v.map(|n| validate::rpm("rate_limit_rpm", n)).transpose())
            .transpose()?,
        budget: body.budget("budget")?,
    };
    let token = ops::tokens::update(&state, &auth.audit, id, update).await?;
    Ok(HttpResponse::Ok().json(views::token(&token)))
}
