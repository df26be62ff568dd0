//! `POST /admin/tokens`: creates a token and shows its secret on this response only (never
//! stored, never redirected through the session).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::html;

use crate::error::{AdminError, AdminResult};
use crate::ops::{self, tokens::TokenRequest};
use crate::ui::layout::{self, Nav};
use crate::ui::session::FlashKind;
use crate::ui::views::time;
use crate::ui::UiForm;
use crate::validate;

pub async fn handle(form: UiForm) -> HttpResponse {
    let created = match create(&form).await {
        Ok(created) => created,
        Err(e) => {
            return form
                .ui
                .redirect_with("/admin/tokens", FlashKind::Error, e.user_message())
        }
    };
    let t = &created.token;
    let content = html! {
        div class="card" {
            h2 { "Copy the token now" }
            p { "This is the only time the token is shown. Store it where the client can read it; the gateway keeps only its hash." }
            div class="secret" {
                code id="token-secret" { (created.secret.expose()) }
                button type="button" class="btn btn-small" data-copy="token-secret" id="copy-token" { "Copy" }
            }
            dl class="props" {
                dt { "Token ID" } dd { code id="token-id" { (t.id) } }
                dt { "Project" } dd { a href={ "/admin/projects/" (t.project_id) } { code { (t.project_id) } } }
                dt { "Expires" } dd { (time(t.expires_at)) }
                dt { "Request limit" } dd { @if let Some(max) = t.max_requests { (max) } @else { "unlimited" } }
            }
            p { a class="btn btn-secondary" href="/admin/tokens" { "Done" } }
        }
    };
    let mut response = layout::page(&form.ui, Nav::Tokens, "Token created", content);
    *response.status_mut() = StatusCode::CREATED;
    response
}

async fn create(form: &UiForm) -> AdminResult<ops::tokens::Created> {
    let project_id = validate::uuid(
        "project_id",
        form.get("project_id")
            .ok_or_else(|| AdminError::invalid("project_id", "Choose a project"))?,
    )?;
    let minutes: i64 = form
        .get("duration_minutes")
        .unwrap_or("")
        .parse()
        .map_err(|_| {
            AdminError::invalid(
                "duration_minutes",
                "The duration must be a whole number of minutes",
            )
        })?;
    let max_requests = match form.get("max_requests") {
        None => None,
        Some(v) => Some(validate::positive(
            "max_requests",
            v.parse().map_err(|_| {
                AdminError::invalid("max_requests", "The request limit must be a whole number")
            })?,
        )?),
    };
    let request = TokenRequest {
        project_id,
        duration_minutes: validate::duration_minutes(minutes)?,
        max_requests,
        rate_limit_rpm: None,
        budget: None,
    };
    ops::tokens::create(&form.ui.state, &form.ui.audit, request).await
}
