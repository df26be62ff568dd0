//! `POST /manage/tokens` `{project_id, duration_minutes, max_requests?, rate_limit_rpm?,
//! budget?}` → 201 `{id, token, expires_at, max_requests, …}`: the only response that carries
//! the secret.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::super::views;
use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::ops::{self, tokens::TokenRequest};
use crate::state::AdminState;
use crate::validate::{self, JsonObject};

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
    body: web::Json<Value>,
) -> AdminResult<HttpResponse> {
    let body = JsonObject::parse(
        body.into_inner(),
        &[
            "project_id",
            "duration_minutes",
            "max_requests",
            "rate_limit_rpm",
            "budget",
        ],
    )?;
    let project_id = validate::uuid("project_id", &body.required_string("project_id")?)?;
    let duration = body.integer("duration_minutes")?.ok_or_else(|| {
        crate::error::AdminError::invalid("duration_minutes", "`duration_minutes` is required")
    })?;
    let request = TokenRequest {
        project_id,
        duration_minutes: validate::duration_minutes(duration)?,
        max_requests: body.nullable_positive("max_requests")?.flatten(),
        rate_limit_rpm: body
            .nullable_positive("rate_limit_rpm")?
            .flatten()
            .map(|n| validate::rpm("rate_limit_rpm", n))
            .transpose()?,
        budget: body.budget("budget")?.flatten(),
    };
    let created = ops::tokens::create(&state, &auth.audit, request).await?;
    Ok(HttpResponse::Created().json(views::created_token(&created.token, &created.secret)))
}
