//! `GET /admin/projects/{id}`: details with the budget and what this period spent, usage over
//! the last 30 days, the edit form, actions and the project's tokens.

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
    let budget = match project.budget {
        Some(b) => {
            let period = b.period.window(now);
            let spent = store
                .spend(id, None, period.start)
                .await
                .map_err(AdminError::from)?;
            Some((b, period, spent))
        }
        None => None,
    };
    let (period_value, max_tokens_value, max_cost_value) = match project.budget {
        Some(b) => (
            b.period.as_str(),
            b.max_tokens.map(|t| t.to_string()),
            b.max_cost_nano_usd
                .map(|n| format!("{}", llm_proxy_core::usage_cost::nanos_to_usd(n))),
        ),
        None => ("", None, None),
    };
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
                        dt { "Budget" } dd id="project-budget" {
                            @if let Some((b, period, spent)) = &budget {
                                @if let Some(max) = b.max_tokens {
                                    div {
                                        (number(spent.tokens)) " of " (number(max)) " tokens"
                                        " " meter min="0" max=(max) value=(spent.tokens.min(max)) {}
                                    }
                                }
                                @if let Some(max) = b.max_cost_nano_usd {
                                    div {
                                        (usd(llm_proxy_core::usage_cost::nanos_to_usd(spent.cost_nano_usd))) " of " (usd(llm_proxy_core::usage_cost::nanos_to_usd(max)))
                                        " " meter min="0" max=(max) value=(spent.cost_nano_usd.min(max)) {}
                                    }
                                }
                                div class="muted" {
                                    @match period.resets_at {
                                        Some(at) => { "this month (UTC), resets " (time(Some(at))) }
                                        None => { "lifetime" }
                                    }
                                    " · spend per the usage ledger; calls in flight hold reservations on top"
                                }
                            } @else {
                                "none"
                            }
                        }
                        dt { "On client disconnect" } dd { (project.on_disconnect.as_str()) }
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
                        div class="field" {
                            label for="budget_period" { "Budget" }
                            select id="budget_period" name="budget_period" {
                                option value="" selected[period_value.is_empty()] { "none" }
                                option value="month" selected[period_value == "month"] { "per calendar month (UTC)" }
                                option value="lifetime" selected[period_value == "lifetime"] { "lifetime" }
                            }
                        }
                        div class="field" {
                            label for="budget_max_tokens" { "Budget: LLM tokens (prompt + completion)" }
                            input type="number" id="budget_max_tokens" name="budget_max_tokens" min="1" value=[max_tokens_value] placeholder="no token cap";
                        }
                        div class="field" {
                            label for="budget_max_cost_usd" { "Budget: USD" }
                            input type="number" id="budget_max_cost_usd" name="budget_max_cost_usd" min="0" step="any" value=[max_cost_value] placeholder="no cost cap";
                        }
                        div class="field" {
                            label for="on_disconnect" { "When a streaming client disconnects" }
                            select id="on_disconnect" name="on_disconnect" {
                                option value="cancel" selected[project.on_disconnect.as_str() == "cancel"] { "cancel the upstream at once" }
                                option value="drain" selected[project.on_disconnect.as_str() == "drain"] { "drain it to record exact usage" }
                            }
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
