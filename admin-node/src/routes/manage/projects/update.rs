//! `PATCH /manage/projects/{id}` `{name?, is_active?, revoke_tokens?, api_key?, provider_keys?,
//! rate_limit_rpm?, budget?, on_disconnect?}` → 200 project. `is_active: false` deactivates;
//! `budget: null` removes the budget.

use actix_web::{web, HttpResponse};
use llm_proxy_core::project::ProjectUpdate;
use serde_json::{json, Value};

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
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
            "name",
            "is_active",
            "revoke_tokens",
            "api_key",
            "provider_keys",
            "rate_limit_rpm",
            "budget",
            "on_disconnect",
        ],
    )?;
    let update = ProjectUpdate {
        name: body
            .string("name")?
            .map(|n| validate::project_name(&n))
            .transpose()?,
        is_active: body.bool("is_active")?,
        provider_keys: validate::provider_keys(
            &state.settings,
            body.string("api_key")?,
            body.string_map("provider_keys")?,
        )?,
        rate_limit_rpm: body
            .nullable_positive("rate_limit_rpm")?
            .map(|v| v.map(|n| validate::rpm("rate_limit_rpm", n)).transpose())
            .transpose()?,
        budget: body.budget("budget")?,
        on_disconnect: body.disconnect_policy("on_disconnect")?,
    };
    let revoke_tokens = body.bool("revoke_tokens")?.unwrap_or(false);
    let updated = ops::projects::update(&state, &auth.audit, id, update, revoke_tokens).await?;
    let mut project = serde_json::to_value(&updated.project).unwrap_or_else(|_| json!({}));
    if revoke_tokens {
        project["tokens_revoked"] = json!(updated.tokens_revoked);
    }
    Ok(HttpResponse::Ok().json(project))
}
