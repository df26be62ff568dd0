//! `POST /admin/projects/{id}/revoke-tokens`.

use actix_web::{web, HttpResponse};

use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm, id: web::Path<String>) -> HttpResponse {
    let back = format!("/admin/projects/{id}");
    let result = async {
        let id = validate::uuid("id", &id)?;
        ops::projects::revoke_all_tokens(&form.ui.state, &form.ui.audit, id).await
    }
    .await;
    match result {
        Ok(n) => form
            .ui
            .redirect_with(&back, FlashKind::Success, format!("{n} token(s) revoked.")),
        Err(e) => form
            .ui
            .redirect_with(&back, FlashKind::Error, e.user_message()),
    }
}
