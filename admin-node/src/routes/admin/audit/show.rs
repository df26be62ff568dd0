//! `GET /admin/audit/{id}`: one audit event in full.

use actix_web::web;
use maud::html;

use crate::error::AdminError;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::views::time;
use crate::ui::UiSession;
use crate::validate;

pub async fn handle(ui: UiSession, id: web::Path<String>) -> UiResult {
    let id = validate::uuid("id", &id)?;
    let e = ui
        .state
        .store
        .get_audit(id)
        .await
        .map_err(AdminError::from)?;
    let metadata = serde_json::to_string_pretty(&e.metadata).unwrap_or_default();
    let content = html! {
        div class="card" {
            dl class="props" {
                dt { "ID" } dd { code { (e.id) } }
                dt { "When" } dd { (time(Some(e.timestamp))) " " span class="muted" { (e.timestamp.to_rfc3339()) } }
                dt { "Action" } dd { code { (e.action) } }
                dt { "Outcome" } dd { (e.outcome.as_str()) }
                dt { "Actor" } dd { (e.actor) }
                dt { "Project" } dd { @if let Some(p) = e.project_id { a href={ "/admin/projects/" (p) } { code { (p) } } } @else { span class="muted" { "—" } } }
                dt { "Token" } dd { @if let Some(t) = e.token_id { code { (t) } } @else { span class="muted" { "—" } } }
                dt { "Request ID" } dd { code { (e.request_id.clone().unwrap_or_default()) } }
                dt { "Client IP" } dd { (e.client_ip.clone().unwrap_or_default()) }
                @if let Some(reason) = &e.reason { dt { "Reason" } dd { (reason) } }
            }
        }
        div class="card" {
            h2 { "Metadata" }
            pre class="json" { (metadata) }
        }
        p { a href="/admin/audit" { "← Back to the audit log" } }
    };
    Ok(layout::page(&ui, Nav::Audit, "Audit event", content))
}
