//! `GET /admin/sessions`: agent sessions by project and time, most recently active first.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{Days, NaiveDate, Utc};
use llm_proxy_store::ProjectFilter;
use maud::{html, Markup};
use serde::Deserialize;

use super::reader::{self, Filter, SessionFiles, Summary};
use super::{encode, unavailable};
use crate::error::{AdminError, AdminResult};
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::views::{badge, number, time};
use crate::ui::UiSession;
use crate::validate;

const PAGE: usize = 50;
/// Days listed when the query names none.
const DEFAULT_DAYS: u64 = 7;

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    pub project_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// `1`: also calls that were sessions of their own.
    pub single: Option<String>,
    pub offset: Option<String>,
}

fn date(field: &str, value: Option<&str>) -> AdminResult<Option<NaiveDate>> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| AdminError::invalid(field, format!("`{field}` must be YYYY-MM-DD")))
        })
        .transpose()
}

impl Query {
    fn filter(&self, today: NaiveDate) -> AdminResult<Filter> {
        let since = date("since", self.since.as_deref())?
            .or_else(|| today.checked_sub_days(Days::new(DEFAULT_DAYS - 1)));
        Ok(Filter {
            project: validate::opt_uuid("project_id", self.project_id.as_deref())?,
            since,
            until: date("until", self.until.as_deref())?,
            single_calls: validate::opt_bool("single", self.single.as_deref())? == Some(true),
        })
    }

    fn link(&self, filter: &Filter, offset: usize) -> String {
        let mut pairs = vec![
            ("project_id", filter.project.map(|p| p.to_string())),
            ("since", filter.since.map(|d| d.to_string())),
            ("until", filter.until.map(|d| d.to_string())),
            ("single", filter.single_calls.then(|| "1".to_owned())),
        ];
        pairs.push(("offset", Some(offset.to_string())));
        let query: Vec<String> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
            .collect();
        format!("/admin/sessions?{}", query.join("&"))
    }
}

pub async fn handle(ui: UiSession, query: web::Query<Query>) -> UiResult {
    let filter = query.filter(Utc::now().date_naive())?;
    let offset = validate::opt_u32("offset", query.offset.as_deref())?.unwrap_or(0) as usize;
    let files = SessionFiles::from_settings(&ui.state.settings);
    let projects: HashMap<uuid::Uuid, String> = ui
        .state
        .store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(AdminError::from)?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let (read_from, wanted) = (files.clone(), filter.clone());
    let sessions = match web::block(move || reader::list(&read_from, &wanted)).await {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::error!(error = %e, "reading session files failed");
            return Ok(layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ));
        }
    };
    let page: Vec<&Summary> = sessions.iter().skip(offset).take(PAGE).collect();
    let mut names: Vec<(&uuid::Uuid, &String)> = projects.iter().collect();
    names.sort_by(|a, b| a.1.cmp(b.1));
    let value = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let content = html! {
        (unavailable(&files))
        form method="get" action="/admin/sessions" class="inline" id="session-filters" {
            div class="field" {
                label for="project_id" { "Project" }
                select id="project_id" name="project_id" {
                    option value="" { "Any" }
                    @for (id, name) in &names {
                        option value=(id) selected[filter.project == Some(**id)] { (name) }
                    }
                }
            }
            div class="field" { label for="since" { "Since" } input type="date" id="since" name="since" value=(value(filter.since)); }
            div class="field" { label for="until" { "Until" } input type="date" id="until" name="until" value=(value(filter.until)); }
            label class="check" {
                input type="checkbox" name="single" value="1" checked[filter.single_calls];
                "Include single calls without a session id"
            }
            button type="submit" class="btn btn-secondary" { "Filter" }
            a href="/admin/sessions" class="btn btn-secondary" { "Reset" }
        }
        div class="table-wrap" {
            @if page.is_empty() {
                div class="empty" { "No sessions in this range." }
            } @else {
                table id="sessions" {
                    thead { tr {
                        th { "Session" } th { "Source" } th { "Project" } th { "Upstream" } th { "Models" }
                        th { "Started" } th { "Last call" } th class="num" { "Calls" } th class="num" { "Forks" }
                        th class="num" { "Prompt tokens" } th class="num" { "Completion tokens" }
                    } }
                    tbody {
                        @for s in &page {
                            (row(s, &projects))
                        }
                    }
                }
            }
        }
        div class="pager" {
            @if offset > 0 { a class="btn btn-secondary" href=(query.link(&filter, offset.saturating_sub(PAGE))) { "← Newer" } }
            @if sessions.len() > offset + PAGE { a class="btn btn-secondary" href=(query.link(&filter, offset + PAGE)) { "Older →" } }
        }
    };
    Ok(layout::page(&ui, Nav::Sessions, "Sessions", content))
}

fn row(s: &Summary, projects: &HashMap<uuid::Uuid, String>) -> Markup {
    html! {
        tr data-session-id=(s.id) {
            td { a href={ "/admin/sessions/" (encode(&s.id)) } { code { (s.id) } } }
            td class="muted" { (s.source) }
            td {
                @for p in &s.projects {
                    div { a href={ "/admin/projects/" (p) } { (projects.get(p).cloned().unwrap_or_else(|| p.to_string())) } }
                }
            }
            td class="muted" { @for u in &s.upstreams { div { (u) } } }
            td { @for m in &s.models { div { code { (m) } } } }
            td { (time(Some(s.first))) }
            td { (time(Some(s.last))) }
            td class="num" { (number(s.calls)) }
            td class="num" { @if s.forks > 0 { (badge(&s.forks.to_string(), "warn")) } @else { span class="muted" { "0" } } }
            td class="num" { (number(s.prompt_tokens)) }
            td class="num" { (number(s.completion_tokens)) }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_default_range_is_the_last_week_and_links_keep_the_filter() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let q = Query::default();
        let f = q.filter(today).unwrap();
        assert_eq!(f.since, NaiveDate::from_ymd_opt(2026, 11, 15));
        assert_eq!((f.until, f.project, f.single_calls), (None, None, false));
        assert_eq!(q.link(&f, 50), "/admin/sessions?since=2026-11-15&offset=50");
        let bad = Query {
            since: Some("yesterday".into()),
            ..Query::default()
        };
        assert!(bad.filter(today).is_err());
    }
}
