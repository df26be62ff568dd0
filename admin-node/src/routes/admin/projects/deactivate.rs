//! `POST /admin/projects/{id}/deactivate` (optionally revoking every token).

use actix_web::{web, HttpResponse};

use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm, id: web::Path<String>) -> HttpResponse {
    let back = format!("/admin/projects/{id}");
    let result = async {
        let id = validate::uuid("id", &id)?;
        ops::projects::deactivate(
            &form.ui.state,
            &form.ui.audit,
            id,
            form.checked("revoke_tokens"),
        )
        .await
    }
    .await;
    match result {
        Ok(done) => form.ui.redirect_with(
            &back,
            FlashKind::Success,
            format!(
                "Project deactivated; {} token(s) revoked.",
                done.tokens_revoked
            ),
        ),
        Err(e) => form
            .ui
            .redirect_with(&back, FlashKind::Error, e.user_message()),
    }
}
