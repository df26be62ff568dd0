//! `POST /manage/projects` `{name, api_key?, provider_keys?, rate_limit_rpm?, budget?,
//! on_disconnect?}` → 201 project.

use actix_web::{web, HttpResponse};
use llm_proxy_core::budget::SpendPolicy;
use llm_proxy_core::project::NewProject;
use serde_json::Value;

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::ops;
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
            "name",
            "api_key",
            "provider_keys",
            "rate_limit_rpm",
            "budget",
            "on_disconnect",
        ],
    )?;
    let name = validate::project_name(&body.required_string("name")?)?;
    let provider_keys = validate::provider_keys(
        &state.settings,
        body.string("api_key")?,
        body.string_map("provider_keys")?,
    )?;
    let rate_limit_rpm = body
        .nullable_positive("rate_limit_rpm")?
        .flatten()
        .map(|n| validate::rpm("rate_limit_rpm", n))
        .transpose()?;
    let new = NewProject {
        name,
        provider_keys,
        rate_limit_rpm,
    };
    let spend = SpendPolicy {
        budget: body.budget("budget")?.flatten(),
        on_disconnect: body.disconnect_policy("on_disconnect")?.unwrap_or_default(),
    };
    let project = ops::projects::create(&state, &auth.audit, new, spend).await?;
    Ok(HttpResponse::Created().json(project))
}
