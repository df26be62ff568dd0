//! `GET /admin/audit`: audit events with filters and paging.

use actix_web::web;
use llm_proxy_core::audit::{action, AuditOutcome};
use maud::html;

use crate::routes::manage::audit::list::{page, parse, Query};
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::views::{badge, short_id, time};
use crate::ui::UiSession;

const ACTIONS: &[&str] = &[
    action::PROJECT_CREATE,
    action::PROJECT_UPDATE,
    action::PROJECT_DEACTIVATE,
    action::TOKEN_CREATE,
    action::TOKEN_UPDATE,
    action::TOKEN_REVOKE,
    action::TOKEN_REVOKE_BULK,
    action::TOKEN_EXPIRE,
    action::TOKEN_PRUNE,
    "cache.purge",
    "admin_ui.login",
];

pub async fn handle(ui: UiSession, query: web::Query<Query>) -> UiResult {
    let (filter, limit, offset) = parse(&query)?;
    let (events, has_more) = page(&ui.state, filter, limit, offset).await?;
    let q = &*query;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let page_link = |offset: u32| {
        let mut pairs: Vec<(&str, String)> = [
            ("action", value(&q.action)),
            ("outcome", value(&q.outcome)),
            ("actor", value(&q.actor)),
            ("project_id", value(&q.project_id)),
            ("token_id", value(&q.token_id)),
            ("request_id", value(&q.request_id)),
            ("since", value(&q.since)),
            ("until", value(&q.until)),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        pairs.push(("offset", offset.to_string()));
        pairs.push(("limit", limit.to_string()));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("/admin/audit?{}", query.join("&"))
    };
    let selected_action = value(&q.action);
    let selected_outcome = value(&q.outcome);
    let content = html! {
        form method="get" action="/admin/audit" class="inline" id="audit-filters" {
            div class="field" {
                label for="action" { "Action" }
                select id="action" name="action" {
                    option value="" { "Any" }
                    @for a in ACTIONS { option value=(a) selected[selected_action == *a] { (a) } }
                }
            }
            div class="field" {
                label for="outcome" { "Outcome" }
                select id="outcome" name="outcome" {
                    option value="" { "Any" }
                    @for o in [AuditOutcome::Success, AuditOutcome::Failure] {
                        option value=(o.as_str()) selected[selected_outcome == o.as_str()] { (o.as_str()) }
                    }
                }
            }
            div class="field" { label for="actor" { "Actor" } input type="text" id="actor" name="actor" value=(value(&q.actor)) placeholder="management_api"; }
            div class="field" { label for="project_id" { "Project ID" } input type="text" id="project_id" name="project_id" value=(value(&q.project_id)); }
            div class="field" { label for="since" { "Since" } input type="date" id="since" name="since" value=(value(&q.since)); }
            div class="field" { label for="until" { "Until" } input type="date" id="until" name="until" value=(value(&q.until)); }
            button type="submit" class="btn btn-secondary" { "Filter" }
            a href="/admin/audit" class="btn btn-secondary" { "Reset" }
        }
        div class="table-wrap" {
            @if events.is_empty() {
                div class="empty" { "No audit events match." }
            } @else {
                table id="audit" {
                    thead { tr { th { "When" } th { "Action" } th { "Outcome" } th { "Actor" } th { "Project" } th { "Token" } th { "Client" } } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { a href={ "/admin/audit/" (e.id) } { (time(Some(e.timestamp))) } }
                                td { code { (e.action) } }
                                td { @match e.outcome { AuditOutcome::Success => (badge("success", "ok")), AuditOutcome::Failure => (badge("failure", "err")) } }
                                td { (e.actor) }
                                td { @if let Some(p) = e.project_id { a href={ "/admin/projects/" (p) } { code { (short_id(&p)) } } } }
                                td { @if let Some(t) = e.token_id { code { (short_id(&t)) } } }
                                td class="muted" { (e.client_ip.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
        div class="pager" {
            @if offset > 0 { a class="btn btn-secondary" href=(page_link(offset.saturating_sub(limit))) { "← Newer" } }
            @if has_more { a class="btn btn-secondary" href=(page_link(offset + limit)) { "Older →" } }
        }
    };
    Ok(layout::page(&ui, Nav::Audit, "Audit log", content))
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
