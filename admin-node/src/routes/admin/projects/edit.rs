//! `POST /admin/projects/{id}`: renames, replaces keys, changes the rate limit, the budget and
//! the disconnect policy.

use actix_web::{web, HttpResponse};
use llm_proxy_core::project::ProjectUpdate;
use uuid::Uuid;

use super::{keys_from_form, rpm_from_form, spend_from_form};
use crate::error::AdminResult;
use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm, id: web::Path<String>) -> HttpResponse {
    let back = format!("/admin/projects/{id}");
    match edit(&form, &id).await {
        Ok(()) => form
            .ui
            .redirect_with(&back, FlashKind::Success, "Project saved."),
        Err(e) => form
            .ui
            .redirect_with(&back, FlashKind::Error, e.user_message()),
    }
}

async fn edit(form: &UiForm, id: &str) -> AdminResult<()> {
    let id: Uuid = validate::uuid("id", id)?;
    let state = &form.ui.state;
    let spend = spend_from_form(form)?;
    let update = ProjectUpdate {
        name: Some(validate::project_name(form.get("name").unwrap_or(""))?),
        is_active: None,
        provider_keys: keys_from_form(state, form)?,
        rate_limit_rpm: Some(rpm_from_form(form)?),
        budget: Some(spend.budget),
        on_disconnect: Some(spend.on_disconnect),
    };
    ops::projects::update(state, &form.ui.audit, id, update, false).await?;
    Ok(())
}
