//! `POST /admin/logout`: ends the session (CSRF-checked like every form).

use actix_web::HttpResponse;

use crate::ui::extract::{removal_cookie, see_other};
use crate::ui::session::SESSION_COOKIE;
use crate::ui::UiForm;

pub async fn handle(form: UiForm) -> HttpResponse {
    form.ui.state.sessions.remove(&form.ui.session.id);
    let mut response = see_other("/admin/login");
    if let Err(e) = response.add_cookie(&removal_cookie(SESSION_COOKIE)) {
        tracing::warn!(error = %e, "cannot clear the session cookie");
    }
    response
}
