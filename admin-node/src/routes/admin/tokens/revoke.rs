//! `POST /admin/tokens/{id}/revoke`.

use actix_web::{web, HttpResponse};

use crate::ops;
use crate::ui::session::FlashKind;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm, id: web::Path<String>) -> HttpResponse {
    let back = form
        .fields
        .get("return_to")
        .filter(|r| r.starts_with("/admin/") && !r.starts_with("//"))
        .cloned()
        .unwrap_or_else(|| "/admin/tokens".to_owned());
    let result = async {
        let id = validate::uuid("id", &id)?;
        ops::tokens::revoke(&form.ui.state, &form.ui.audit, id).await
    }
    .await;
    match result {
        Ok(t) => form.ui.redirect_with(
            &back,
            FlashKind::Success,
            format!("Token {} revoked.", t.obfuscated),
        ),
        Err(e) => form
            .ui
            .redirect_with(&back, FlashKind::Error, e.user_message()),
    }
}
