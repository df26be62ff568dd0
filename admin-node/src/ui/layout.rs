//! The page frame: header with navigation and logout, a flash message, the content.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::extract::{UiSession, CSRF_FIELD};
use super::session::{Flash, FlashKind};

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Projects,
    Tokens,
    Sessions,
    Usage,
    Audit,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · llm-proxy admin" }
            link rel="stylesheet" href="/admin/static/admin.css";
            script src="/admin/static/admin.js" defer {}
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(ui: &UiSession) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ui.session.csrf); }
}

fn flash(flash: Option<Flash>) -> Markup {
    html! {
        @if let Some(f) = flash {
            @let class = match f.kind { FlashKind::Success => "flash flash-success", FlashKind::Error => "flash flash-error" };
            div class=(class) role="status" { (f.message) }
        }
    }
}

/// A full page for a logged-in session (takes its pending flash message).
pub fn page(ui: &UiSession, nav: Nav, title: &str, content: Markup) -> HttpResponse {
    let pending = ui.state.sessions.take_flash(&ui.session.id);
    let item = |target: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(target == nav).then_some("active")] { (label) } }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header class="topbar" {
                    a class="brand" href="/admin" { "llm-proxy" span { "admin" } }
                    nav {
                        (item(Nav::Dashboard, "/admin", "Dashboard"))
                        (item(Nav::Projects, "/admin/projects", "Projects"))
                        (item(Nav::Tokens, "/admin/tokens", "Tokens"))
                        (item(Nav::Sessions, "/admin/sessions", "Sessions"))
                        (item(Nav::Usage, "/admin/usage", "Usage"))
                        (item(Nav::Audit, "/admin/audit", "Audit log"))
                    }
                    form method="post" action="/admin/logout" class="logout" {
                        (csrf(ui))
                        button type="submit" class="btn btn-ghost" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (flash(pending))
                    (content)
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// A page without navigation (login, errors).
pub fn bare_page(status: StatusCode, title: &str, content: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body class="bare" {
                main class="narrow" {
                    div class="brand big" { "llm-proxy" span { "admin" } }
                    (content)
                }
            }
        }
    };
    html_response(status, markup)
}

pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    bare_page(
        status,
        "Error",
        html! {
            div class="card" {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                p { (message) }
                p { a href="/admin" { "Back to the dashboard" } }
            }
        },
    )
}

pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .body(markup.into_string())
}
