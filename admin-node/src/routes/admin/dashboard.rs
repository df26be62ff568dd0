//! `GET /admin`: projects, active tokens, and requests, LLM tokens and cost today and this
//! week with charts of the last two weeks (from the usage ledger), lifetime request counters
//! and the latest audit events.

use chrono::{Datelike, Duration, Utc};
use llm_proxy_core::audit::AuditFilter;
use llm_proxy_core::token::TokenFilter;
use llm_proxy_store::{Granularity, ProjectFilter, UsageFilter};
use maud::html;

use crate::routes::manage::usage::Totals;
use crate::ui::chart::usd;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::usage_charts::{self, Window};
use crate::ui::views::{number, time};
use crate::ui::UiSession;

pub async fn handle(ui: UiSession) -> UiResult {
    let store = &ui.state.store;
    let now = Utc::now();
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let week = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));

    let projects = store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(crate::error::AdminError::from)?;
    let active_projects = projects.iter().filter(|p| p.is_active).count();
    let tokens = store
        .list_tokens(&TokenFilter::default())
        .await
        .map_err(crate::error::AdminError::from)?;
    let active_tokens = tokens
        .iter()
        .filter(|t| t.is_active && !t.is_expired(now))
        .count();
    let lifetime_requests: u64 = tokens.iter().map(|t| t.request_count).sum();
    let usage = |since| UsageFilter {
        since: Some(since),
        ..UsageFilter::default()
    };
    let today_usage = Totals::of(
        &store
            .usage_summary(&usage(today))
            .await
            .map_err(crate::error::AdminError::from)?,
    );
    let week_usage = Totals::of(
        &store
            .usage_summary(&usage(week))
            .await
            .map_err(crate::error::AdminError::from)?,
    );
    let window = Window::last(14, Granularity::Day, now);
    let daily = store
        .usage_series(&usage(window.from), Granularity::Day)
        .await
        .map_err(crate::error::AdminError::from)?;
    let recent = store
        .list_audit(&AuditFilter {
            limit: Some(8),
            ..AuditFilter::default()
        })
        .await
        .map_err(crate::error::AdminError::from)?;

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
        div class="grid" {
            (stat("Projects", number(active_projects as u64), format!("{} in total", projects.len())))
            (stat("Active tokens", number(active_tokens as u64), format!("{} issued, {} lifetime requests", tokens.len(), number(lifetime_requests))))
            (stat("Requests today", number(today_usage.requests), format!("{} errors", number(today_usage.errors))))
            (stat("LLM tokens today", number(today_usage.total_tokens), format!("{} prompt · {} completion", number(today_usage.prompt_tokens), number(today_usage.completion_tokens))))
            (stat("Requests this week", number(week_usage.requests), format!("since {}", week.format("%a %Y-%m-%d"))))
            (stat("LLM tokens this week", number(week_usage.total_tokens), format!("{} cached", number(week_usage.cached_tokens))))
            (stat("Cost this week", usd(week_usage.cost_usd), format!("{} today", usd(today_usage.cost_usd))))
        }
        div class="card" {
            h2 { "Last 14 days " a class="btn btn-secondary btn-small" href="/admin/usage?range=30d" { "Usage details" } }
            (usage_charts::charts("dashboard", &window, &daily))
        }
        div class="columns" {
            div class="card" {
                h2 { "Recent activity" }
                @if recent.is_empty() {
                    div class="empty" { "Nothing has happened yet." }
                } @else {
                    table {
                        thead { tr { th { "When" } th { "Action" } th { "Actor" } th { "Outcome" } } }
                        tbody {
                            @for e in &recent {
                                tr {
                                    td { a href={ "/admin/audit/" (e.id) } { (time(Some(e.timestamp))) } }
                                    td { code { (e.action) } }
                                    td class="muted" { (e.actor) }
                                    td { (e.outcome.as_str()) }
                                }
                            }
                        }
                    }
                }
            }
            div class="card" {
                h2 { "Quick actions" }
                div class="btn-row" {
                    a class="btn" href="/admin/projects" { "New project" }
                    a class="btn btn-secondary" href="/admin/tokens" { "New token" }
                }
                p class="hint" { "Usage comes from the usage ledger (hourly roll-ups of proxied requests, UTC; cost from the configured price table); lifetime requests from each token's admission counter." }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Dashboard, "Dashboard", content))
}
