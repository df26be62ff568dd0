//! `GET /admin/sessions/{id}`: one session's turns in sequence order — what each call added
//! (prompts, tool results), what the model answered (text, tool calls), lineage and tokens.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use llm_proxy_core::event::{TurnMessage, TurnPart, TurnPartKind};
use llm_proxy_store::ProjectFilter;
use maud::{html, Markup};

use super::reader::{self, Line, SessionFiles, Turn, MAX_TURNS};
use super::transcript::{self, Answer};
use super::{decode, unavailable};
use crate::error::AdminError;
use crate::ui::extract::UiResult;
use crate::ui::layout::{self, Nav};
use crate::ui::views::{badge, number, time};
use crate::ui::UiSession;

pub async fn handle(ui: UiSession, id: web::Path<String>) -> UiResult {
    let id = decode(&id);
    let files = SessionFiles::from_settings(&ui.state.settings);
    let (read_from, wanted) = (files.clone(), id.clone());
    let session = match web::block(move || reader::session(&read_from, &wanted)).await {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(error = %e, "reading session files failed");
            return Ok(layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ));
        }
    };
    let Some(session) = session else {
        let content = html! {
            (unavailable(&files))
            div class="card" { p { "No calls of session " code { (id) } " were found." } }
            p { a href="/admin/sessions" { "← All sessions" } }
        };
        return Ok(layout::page(&ui, Nav::Sessions, "Session", content));
    };
    let projects: HashMap<uuid::Uuid, String> = ui
        .state
        .store
        .list_projects(&ProjectFilter::default())
        .await
        .map_err(AdminError::from)?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let s = &session.summary;
    let content = html! {
        div class="card" {
            dl class="props" id="session-summary" {
                dt { "Session" } dd { code { (s.id) } }
                dt { "Id from" } dd { (s.source) }
                dt { "Project" } dd { @for p in &s.projects {
                    a href={ "/admin/projects/" (p) } { (projects.get(p).cloned().unwrap_or_else(|| p.to_string())) } " "
                } }
                dt { "Upstream" } dd { @for u in &s.upstreams { (u) " " } }
                dt { "Models" } dd { @for m in &s.models { code { (m) } " " } }
                dt { "Active" } dd { (time(Some(s.first))) " – " (time(Some(s.last))) }
                dt { "Calls" } dd { (number(s.calls)) @if s.forks > 0 { " (" (s.forks) " forked)" } }
                dt { "Tokens" } dd { (number(s.prompt_tokens)) " prompt, " (number(s.completion_tokens)) " completion" }
            }
        }
        @if session.cut { div class="flash flash-error" { "Only the first " (MAX_TURNS) " calls are shown." } }
        div id="turns" {
            @for turn in &session.turns { (turn_card(turn)) }
        }
        p { a href="/admin/sessions" { "← All sessions" } }
    };
    Ok(layout::page(&ui, Nav::Sessions, "Session", content))
}

fn lineage(request: &Line) -> Markup {
    let parent = request
        .parent_seq
        .map(|p| format!(" #{p}"))
        .unwrap_or_default();
    match request.lineage.as_deref() {
        Some("fork") => badge(&format!("fork of{parent}"), "warn"),
        Some("continuation") => badge(&format!("continues{parent}"), "ok"),
        Some("new") => badge("new", "off"),
        _ => html! {},
    }
}

fn turn_card(turn: &Turn) -> Markup {
    let request = turn.request.as_ref();
    let response = turn.response.as_ref();
    let usage = response.and_then(|r| r.usage.as_ref());
    let answer = response
        .and_then(|r| r.body.as_ref())
        .map(transcript::answer)
        .unwrap_or_default();
    html! {
        div class="card turn" data-seq=(turn.seq()) {
            h2 {
                "#" (turn.seq()) " "
                @if let Some(r) = request { (lineage(r)) " " }
                span class="muted" { (time(turn.at())) }
            }
            dl class="props" {
                @if let Some(r) = request {
                    dt { "Call" } dd { code { (r.path.clone().unwrap_or_default()) } " " @if let Some(m) = &r.model { code { (m) } } }
                }
                @if let Some(r) = response {
                    dt { "Status" } dd {
                        (r.status.map(|s| s.to_string()).unwrap_or_default())
                        @if let Some(f) = &r.finish_reason { " · " (f) }
                    }
                }
                @if let Some(u) = usage {
                    dt { "Tokens" } dd class="tokens" {
                        (number(u.prompt_tokens.unwrap_or(0))) " prompt"
                        @if let Some(c) = u.cached_tokens { " (" (number(c)) " cached)" }
                        ", " (number(u.completion_tokens.unwrap_or(0))) " completion"
                    }
                }
            }
            @if let Some(digest) = request.and_then(|r| r.turn.as_ref()) {
                h2 { "Added" @if digest.omitted > 0 { span class="muted" { " (" (digest.omitted) " earlier messages not shown)" } } }
                @for message in &digest.added { (message_view(message)) }
            } @else if let Some(body) = request.and_then(|r| r.body.as_ref()) {
                h2 { "Request" }
                pre class="json" { (serde_json::to_string_pretty(body).unwrap_or_default()) }
            }
            (answer_view(&answer))
        }
    }
}

fn message_view(message: &TurnMessage) -> Markup {
    html! {
        div class="message" {
            div { strong { (message.role) } }
            @for part in &message.parts { (part_view(part)) }
        }
    }
}

fn part_view(part: &TurnPart) -> Markup {
    let text = part.text.clone().unwrap_or_default();
    html! {
        @match part.kind {
            TurnPartKind::Text => pre class="json" { (text) },
            TurnPartKind::ToolCall => div class="tool-call" {
                (badge("tool call", "ok")) " " code { (part.name.clone().unwrap_or_default()) }
                " " span class="muted" { (part.id.clone().unwrap_or_default()) }
                pre class="json" { (text) }
            },
            TurnPartKind::ToolResult => div class="tool-result" {
                @if part.is_error { (badge("tool error", "err")) } @else { (badge("tool result", "off")) }
                " " span class="muted" { (part.id.clone().unwrap_or_default()) }
                pre class="json" { (text) }
            },
            TurnPartKind::Image => p class="muted" { "[image]" },
            TurnPartKind::Thinking => p class="muted" { "[reasoning]" },
            TurnPartKind::Other => p class="muted" { "[other content]" },
        }
    }
}

fn answer_view(answer: &Answer) -> Markup {
    html! {
        @if !answer.text.is_empty() || !answer.tool_calls.is_empty() {
            h2 { "Answer" }
            @if !answer.text.is_empty() { pre class="json answer" { (answer.text) } }
            @for call in &answer.tool_calls {
                div class="tool-call" {
                    (badge("tool call", "ok")) " " code { (call.name) }
                    " " span class="muted" { (call.id.clone().unwrap_or_default()) }
                    pre class="json" { (call.input) }
                }
            }
        }
    }
}
