//! `GET /admin/projects/{id}`: details, usage over the last 30 days, the edit form, actions and
//! the project's tokens.

use actix_web::web;
use chrono::Utc;
use llm_proxy_core::token::TokenFilter;
use llm_proxy_store::{Granularity, UsageFilter};
use maud::html;

use crate::error::AdminError;
use crate::routes::manage::usage::{report, Totals};
use crate::ui::chart::usd;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, csrf, Nav};
use crate::ui::usage_charts::{self, Window};
use crate::ui::views::{number, project_badge, time, token_badge};
use crate::ui::UiSession;
use crate::validate;

pub async fn handle(ui: UiSession, id: web::Path<String>) -> UiResult {
    let id = validate::uuid("id", &id)?;
    let store = &ui.state.store;
    let project = store.get_project(id).await.map_err(AdminError::from)?;
    let tokens = store
        .list_tokens(&TokenFilter {
            project_id: Some(id),
            limit: Some(200),
            ..TokenFilter::default()
        })
        .await
        .map_err(AdminError::from)?;
    let now = Utc::now();
    let active_tokens = tokens
        .iter()
        .filter(|t| t.is_active && !t.is_expired(now))
        .count();
    let providers: Vec<&String> = ui.state.settings.providers.keys().collect();
    let window = Window::last(30, Granularity::Day, now);
    let points = store
        .usage_series(
            &UsageFilter {
                project_id: Some(id),
                since: Some(window.from),
                ..UsageFilter::default()
            },
            Granularity::Day,
        )
        .await
        .map_err(AdminError::from)?;
    let month = Totals::from(&report::sum(points.iter().map(|p| p.totals)));
    let content = html! {
        div class="columns" {
            div {
                div class="card" {
                    h2 { "Details" }
                    dl class="props" {
                        dt { "ID" } dd { code { (project.id) } }
                        dt { "Status" } dd id="project-status" { (project_badge(project.is_active)) }
                        dt { "Provider keys" } dd {
                            @if project.providers.is_empty() { span class="muted" { "none" } }
                            @for (name, info) in &project.providers {
                                div { (name) " " code { (info.key_hint) } " " span class="muted" { "updated " (time(Some(info.updated_at))) } }
                            }
                        }
                        dt { "Requests per minute" } dd { @if let Some(rpm) = project.rate_limit_rpm { (rpm) } @else { "unlimited" } }
                        dt { "Created" } dd { (time(Some(project.created_at))) }
                        dt { "Updated" } dd { (time(Some(project.updated_at))) }
                        @if let Some(at) = project.deactivated_at { dt { "Deactivated" } dd { (time(Some(at))) } }
                    }
                }
                div class="card" id="project-usage" {
                    h2 { "Usage, last 30 days: " (number(month.requests)) " requests, " (usd(month.cost_usd)) " "
                        a class="btn btn-secondary btn-small" href={ "/admin/usage?range=30d&project_id=" (project.id) } { "Details" } }
                    (usage_charts::charts("project", &window, &points))
                }
                div class="card" {
                    h2 { "Tokens (" (active_tokens) " active)" }
                    @if tokens.is_empty() {
                        div class="empty" { "No tokens yet." }
                    } @else {
                        table {
                            thead { tr { th { "Token" } th { "Status" } th { "Expires" } th class="num" { "Requests" } th { "Last used" } } }
                            tbody {
                                @for t in &tokens {
                                    tr {
                                        td { code { (t.obfuscated) } }
                                        td { (token_badge(t, now)) }
                                        td { (time(t.expires_at)) }
                                        td class="num" { (number(t.request_count)) @if let Some(max) = t.max_requests { " / " (number(max)) } }
                                        td { (time(t.last_used_at)) }
                                    }
                                }
                            }
                        }
                    }
                    p { a class="btn btn-secondary" href={ "/admin/tokens?project_id=" (project.id) } { "Manage tokens" } }
                }
            }
            div {
                div class="card" {
                    h2 { "Edit" }
                    form method="post" action={ "/admin/projects/" (project.id) } class="stack" id="edit-project" {
                        (csrf(&ui))
                        div class="field" {
                            label for="name" { "Name" }
                            input type="text" id="name" name="name" value=(project.name) required maxlength="200";
                        }
                        @for p in &providers {
                            div class="field" {
                                label for={ "key_" (p) } { "Replace " (p) " key" }
                                input type="password" id={ "key_" (p) } name={ "key_" (p) } autocomplete="off" placeholder="leave empty to keep";
                            }
                        }
                        div class="field" {
                            label for="rate_limit_rpm" { "Requests per minute" }
                            input type="number" id="rate_limit_rpm" name="rate_limit_rpm" min="1" value=[project.rate_limit_rpm] placeholder="unlimited";
                        }
                        button type="submit" class="btn" { "Save" }
                    }
                }
                div class="card" {
                    h2 { "Actions" }
                    form method="post" action={ "/admin/projects/" (project.id) "/revoke-tokens" } data-confirm="Revoke every active token of this project?" {
                        (csrf(&ui))
                        p { button type="submit" class="btn btn-danger" id="revoke-all" { "Revoke all tokens" } }
                    }
                    @if project.is_active {
                        form method="post" action={ "/admin/projects/" (project.id) "/deactivate" } data-confirm="Deactivate this project? The proxy will refuse its tokens." {
                            (csrf(&ui))
                            label class="check" { input type="checkbox" name="revoke_tokens" checked; "also revoke its tokens" }
                            button type="submit" class="btn btn-danger" id="deactivate" { "Deactivate project" }
                        }
                    } @else {
                        form method="post" action={ "/admin/projects/" (project.id) "/activate" } {
                            (csrf(&ui))
                            button type="submit" class="btn btn-secondary" id="activate" { "Activate project" }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Projects, &project.name, content))
}
