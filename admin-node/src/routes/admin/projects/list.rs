//! `GET /admin/projects`: every project, and the form to create one.

use llm_proxy_store::ProjectFilter;
use maud::html;

use crate::error::AdminError;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, csrf, Nav};
use crate::ui::views::{project_badge, time};
use crate::ui::UiSession;

pub async fn handle(ui: UiSession) -> UiResult {
    let projects = ui
        .state
        .store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(AdminError::from)?;
    let providers: Vec<&String> = ui.state.settings.providers.keys().collect();
    let content = html! {
        div class="columns" {
            div class="table-wrap" {
                @if projects.is_empty() {
                    div class="empty" { "No projects yet. Create the first one with its provider key." }
                } @else {
                    table id="projects" {
                        thead { tr { th { "Name" } th { "Status" } th { "Provider keys" } th class="num" { "Req/min" } th { "Created" } } }
                        tbody {
                            @for p in &projects {
                                tr data-project-id=(p.id) {
                                    td { a href={ "/admin/projects/" (p.id) } { (p.name) } }
                                    td { (project_badge(p.is_active)) }
                                    td {
                                        @if p.providers.is_empty() { span class="muted" { "none" } }
                                        @for (name, info) in &p.providers {
                                            div { (name) " " code class="muted" { (info.key_hint) } }
                                        }
                                    }
                                    td class="num" { @if let Some(rpm) = p.rate_limit_rpm { (rpm) } @else { span class="muted" { "—" } } }
                                    td { (time(Some(p.created_at))) }
                                }
                            }
                        }
                    }
                }
            }
            div class="card" {
                h2 { "New project" }
                form method="post" action="/admin/projects" class="stack" id="create-project" {
                    (csrf(&ui))
                    div class="field" {
                        label for="name" { "Name" }
                        input type="text" id="name" name="name" required maxlength="200";
                    }
                    @for p in &providers {
                        div class="field" {
                            label for={ "key_" (p) } { (p) " API key" }
                            input type="password" id={ "key_" (p) } name={ "key_" (p) } autocomplete="off";
                        }
                    }
                    div class="field" {
                        label for="rate_limit_rpm" { "Requests per minute (optional)" }
                        input type="number" id="rate_limit_rpm" name="rate_limit_rpm" min="1";
                    }
                    p class="hint" { "Keys are encrypted at rest and never shown again; only a hint like sk-...1234." }
                    button type="submit" class="btn" { "Create project" }
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Projects, "Projects", content))
}
