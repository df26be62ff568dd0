//! `POST /admin/projects/{id}/activate`.

use actix_web::{web, HttpResponse};
use llm_proxy_core::project::ProjectUpdate;

use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm, id: web::Path<String>) -> HttpResponse {
    let back = format!("/admin/projects/{id}");
    let result = async {
        let id = validate::uuid("id", &id)?;
        let update = ProjectUpdate {
            is_active: Some(true),
            ..ProjectUpdate::default()
        };
        ops::projects::update(&form.ui.state, &form.ui.audit, id, update, false).await
    }
    .await;
    match result {
        Ok(_) => form
            .ui
            .redirect_with(&back, FlashKind::Success, "Project activated."),
        Err(e) => form
            .ui
            .redirect_with(&back, FlashKind::Error, e.user_message()),
    }
}
