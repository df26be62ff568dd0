//! `GET /admin/tokens?project_id=&status=`: tokens with filters, and the form to create one.

use std::collections::HashMap;

use actix_web::web;
use chrono::Utc;
use llm_proxy_core::project::Project;
use llm_proxy_core::token::TokenFilter;
use llm_proxy_store::ProjectFilter;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::AdminError;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, csrf, Nav};
use crate::ui::views::{number, time, token_badge, token_status};
use crate::ui::UiSession;
use crate::validate;

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    pub project_id: Option<String>,
    pub status: Option<String>,
}

pub async fn handle(ui: UiSession, query: web::Query<Query>) -> UiResult {
    let project_id = validate::opt_uuid("project_id", query.project_id.as_deref())?;
    let status = query.status.as_deref().unwrap_or("").trim().to_owned();
    let store = &ui.state.store;
    let projects = store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(AdminError::from)?;
    let names: HashMap<Uuid, &str> = projects.iter().map(|p| (p.id, p.name.as_str())).collect();
    let now = Utc::now();
    let tokens: Vec<_> = store
        .list_tokens(&TokenFilter {
            project_id,
            active: None,
            limit: Some(500),
            offset: None,
        })
        .await
        .map_err(AdminError::from)?
        .into_iter()
        .filter(|t| status.is_empty() || token_status(t, now) == status)
        .collect();

    let content = html! {
        form method="get" action="/admin/tokens" class="inline" id="token-filters" {
            div class="field" {
                label for="filter-project" { "Project" }
                select id="filter-project" name="project_id" {
                    option value="" { "All projects" }
                    @for p in &projects {
                        option value=(p.id) selected[project_id == Some(p.id)] { (p.name) }
                    }
                }
            }
            div class="field" {
                label for="filter-status" { "Status" }
                select id="filter-status" name="status" {
                    @for (value, label) in [("", "Any"), ("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")] {
                        option value=(value) selected[status == value] { (label) }
                    }
                }
            }
            button type="submit" class="btn btn-secondary" { "Filter" }
        }
        div class="columns" {
            div class="table-wrap" {
                @if tokens.is_empty() {
                    div class="empty" { "No tokens match." }
                } @else {
                    table id="tokens" {
                        thead { tr { th { "Token" } th { "Project" } th { "Status" } th { "Expires" } th class="num" { "Requests" } th { "Last used" } th {} } }
                        tbody {
                            @for t in &tokens {
                                tr data-token-id=(t.id) {
                                    td { code { (t.obfuscated) } }
                                    td { a href={ "/admin/projects/" (t.project_id) } { (names.get(&t.project_id).copied().unwrap_or("?")) } }
                                    td class="status" { (token_badge(t, now)) }
                                    td { (time(t.expires_at)) }
                                    td class="num" { (number(t.request_count)) @if let Some(max) = t.max_requests { " / " (number(max)) } }
                                    td { (time(t.last_used_at)) }
                                    td class="actions" {
                                        @if t.is_active {
                                            form method="post" action={ "/admin/tokens/" (t.id) "/revoke" } data-confirm="Revoke this token? Clients using it are refused at once." {
                                                (csrf(&ui))
                                                button type="submit" class="btn btn-danger btn-small" { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (create_form(&ui, &projects, project_id))
        }
    };
    Ok(layout::page(&ui, Nav::Tokens, "Tokens", content))
}

fn create_form(ui: &UiSession, projects: &[Project], selected: Option<Uuid>) -> Markup {
    let active: Vec<&Project> = projects.iter().filter(|p| p.is_active).collect();
    html! {
        div class="card" {
            h2 { "New token" }
            @if active.is_empty() {
                p class="muted" { "Create an active project first." }
            } @else {
                form method="post" action="/admin/tokens" class="stack" id="create-token" {
                    (csrf(ui))
                    div class="field" {
                        label for="project_id" { "Project" }
                        select id="project_id" name="project_id" required {
                            @for p in &active {
                                option value=(p.id) selected[selected == Some(p.id)] { (p.name) }
                            }
                        }
                    }
                    div class="field" {
                        label for="duration_minutes" { "Valid for (minutes)" }
                        input type="number" id="duration_minutes" name="duration_minutes" min="1" max="525600" value="1440" required;
                        div class="hint" { "1 to 525600 (one year). 1440 is a day." }
                    }
                    div class="field" {
                        label for="max_requests" { "Request limit (optional)" }
                        input type="number" id="max_requests" name="max_requests" min="1" placeholder="unlimited";
                    }
                    button type="submit" class="btn" { "Create token" }
                }
            }
        }
    }
}
