//! `GET /admin/login`: the login form, with a login CSRF token (double submit: the same random
//! value in an HttpOnly cookie and in the form).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::html;

use crate::ui::extract::{private_cookie, see_other, CSRF_FIELD};
use crate::ui::layout;
use crate::ui::session::{random_token, LOGIN_CSRF_COOKIE};
use crate::ui::UiSession;

const LOGIN_FORM_TTL_SECS: i64 = 3600;

pub async fn handle(req: HttpRequest, session: Option<UiSession>) -> HttpResponse {
    if session.is_some() {
        return see_other("/admin");
    }
    render(&req, StatusCode::OK, None)
}

/// The form with a fresh login CSRF token; `error` is shown above it.
pub fn render(req: &HttpRequest, status: StatusCode, error: Option<&str>) -> HttpResponse {
    let csrf = random_token();
    let content = html! {
        div class="card" {
            h1 { "Sign in" }
            @if let Some(error) = error {
                div class="flash flash-error" role="alert" { (error) }
            }
            form method="post" action="/admin/login" class="stack" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                div class="field" {
                    label for="token" { "Management token" }
                    input type="password" id="token" name="token" autocomplete="current-password" required autofocus;
                    div class="hint" { "The value of LLM_PROXY_MANAGEMENT_TOKEN. It is checked once and never stored in your browser." }
                }
                button type="submit" class="btn" { "Sign in" }
            }
        }
    };
    let mut response = layout::bare_page(status, "Sign in", content);
    let cookie = private_cookie(req, LOGIN_CSRF_COOKIE, csrf, LOGIN_FORM_TTL_SECS);
    if let Err(e) = response.add_cookie(&cookie) {
        tracing::warn!(error = %e, "cannot set the login cookie");
    }
    response
}
