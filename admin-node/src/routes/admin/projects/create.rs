//! `POST /admin/projects`: creates a project with its provider keys.

use actix_web::HttpResponse;
use llm_proxy_core::project::NewProject;

use super::{keys_from_form, rpm_from_form, spend_from_form};
use crate::error::AdminResult;
use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm) -> HttpResponse {
    match create(&form).await {
        Ok(id) => form.ui.redirect_with(
            &format!("/admin/projects/{id}"),
            FlashKind::Success,
            "Project created.",
        ),
        Err(e) => form
            .ui
            .redirect_with("/admin/projects", FlashKind::Error, e.user_message()),
    }
}

async fn create(form: &UiForm) -> AdminResult<uuid::Uuid> {
    let state = &form.ui.state;
    let new = NewProject {
        name: validate::project_name(form.get("name").unwrap_or(""))?,
        provider_keys: keys_from_form(state, form)?,
        rate_limit_rpm: rpm_from_form(form)?,
    };
    let spend = spend_from_form(form)?;
    let project = ops::projects::create(state, &form.ui.audit, new, spend).await?;
    Ok(project.id)
}
