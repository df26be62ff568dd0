//! `GET /admin/usage?project_id=&model=&range=`: requests, tokens and cost over time from the
//! usage ledger, per model and per project, with a CSV download of the same window.

use std::collections::HashMap;

use actix_web::web;
use chrono::Utc;
use llm_proxy_store::ProjectFilter;
use maud::html;
use uuid::Uuid;

use super::query::{PageQuery, RANGES};
use crate::error::AdminError;
use crate::routes::manage::usage::report;
use crate::routes::manage::usage::Totals;
use crate::ui::chart::{compact, usd};
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::usage_charts;
use crate::ui::views::{number, short_id};
use crate::ui::UiSession;

pub async fn handle(ui: UiSession, query: web::Query<PageQuery>) -> UiResult {
    let parsed = query.parse(Utc::now())?;
    let store = &ui.state.store;
    let filter = &parsed.query.filter;
    let (points, groups) = futures_util::future::try_join(
        store.usage_series(filter, parsed.query.granularity),
        store.usage_breakdown(filter),
    )
    .await
    .map_err(AdminError::from)?;
    let projects = store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(AdminError::from)?;
    let names: HashMap<Uuid, &str> = projects.iter().map(|p| (p.id, p.name.as_str())).collect();
    let totals = Totals::from(&report::sum(groups.iter().map(|g| g.totals)));
    let models = report::models(&groups);
    let per_project = report::projects(&groups);
    let csv_link = format!("/admin/usage.csv?{}", query.query_string(parsed.range));
    let model_value = query.model.clone().unwrap_or_default();
    let stat = |label: &str, value: String, sub: String| {
        html! {
            div class="stat" {
                div class="label" { (label) }
                div class="value" { (value) }
                div class="sub" { (sub) }
            }
        }
    };
    let content = html! {
        form method="get" action="/admin/usage" class="inline" id="usage-filters" {
            div class="field" {
                label for="usage-project" { "Project" }
                select id="usage-project" name="project_id" {
                    option value="" { "All projects" }
                    @for p in &projects {
                        option value=(p.id) selected[filter.project_id == Some(p.id)] { (p.name) }
                    }
                }
            }
            div class="field" {
                label for="usage-model" { "Model" }
                input type="text" id="usage-model" name="model" value=(model_value) placeholder="any";
            }
            div class="field" {
                label for="usage-range" { "Range" }
                select id="usage-range" name="range" {
                    @for (value, label, _, _) in RANGES {
                        option value=(value) selected[*value == parsed.range] { (label) }
                    }
                }
            }
            @if let Some(token) = filter.token_id {
                input type="hidden" name="token_id" value=(token);
            }
            button type="submit" class="btn btn-secondary" { "Show" }
            a class="btn btn-secondary" id="usage-csv" href=(csv_link) { "Download CSV" }
        }
        div class="grid" {
            (stat("Requests", number(totals.requests), format!("{} errors", number(totals.errors))))
            (stat("LLM tokens", number(totals.total_tokens), format!("{} prompt · {} completion", number(totals.prompt_tokens), number(totals.completion_tokens))))
            (stat("Cached tokens", number(totals.cached_tokens), "prompt tokens from the provider's cache".to_owned()))
            (stat("Cost", usd(totals.cost_usd), "from the configured price table".to_owned()))
        }
        div class="card" {
            (usage_charts::charts("usage", &parsed.window, &points))
        }
        div class="columns" {
            div class="card" {
                h2 { "By model" }
                @if models.is_empty() {
                    div class="empty" { "No usage in this window." }
                } @else {
                    table id="usage-models" {
                        thead { tr { th { "Provider" } th { "Model" } th class="num" { "Requests" } th class="num" { "Tokens" } th class="num" { "Cost" } } }
                        tbody {
                            @for m in &models {
                                tr {
                                    td { (m.provider) }
                                    td { code { (m.model.as_deref().unwrap_or("—")) } }
                                    td class="num" { (number(m.usage.requests)) }
                                    td class="num" { (compact(m.usage.total_tokens as f64)) }
                                    td class="num" { (usd(m.usage.cost_usd)) }
                                }
                            }
                        }
                    }
                }
            }
            div class="card" {
                h2 { "By project" }
                @if per_project.is_empty() {
                    div class="empty" { "No usage in this window." }
                } @else {
                    table id="usage-projects" {
                        thead { tr { th { "Project" } th class="num" { "Requests" } th class="num" { "Cost" } } }
                        tbody {
                            @for p in &per_project {
                                tr {
                                    td { a href={ "/admin/projects/" (p.project_id) } { (names.get(&p.project_id).copied().map(str::to_owned).unwrap_or_else(|| short_id(&p.project_id))) } }
                                    td class="num" { (number(p.usage.requests)) }
                                    td class="num" { (usd(p.usage.cost_usd)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p class="hint" { "From the usage ledger: hourly roll-ups of proxied requests (UTC), costed with the configured price table; models without a price cost nothing here." }
    };
    Ok(layout::page(&ui, Nav::Usage, "Usage", content))
}
