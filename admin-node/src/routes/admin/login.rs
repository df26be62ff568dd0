//! `POST /admin/login`: checks the login CSRF token and the management token (constant time),
//! then opens a server-side session; the cookie carries only the session's random id.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use llm_proxy_core::audit::{AuditOutcome, NewAuditEvent};
use serde_json::json;

use super::login_form;
use crate::auth::token_matches;
use crate::context::audit_context;
use crate::state::AdminState;
use crate::ui::extract::{private_cookie, removal_cookie, see_other, CSRF_FIELD};
use crate::ui::session::{tokens_equal, LOGIN_CSRF_COOKIE, SESSION_COOKIE};

pub const ACTION: &str = "admin_ui.login";

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AdminState>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let presented_csrf = form.get(CSRF_FIELD).map(String::as_str).unwrap_or("");
    let csrf_ok = req
        .cookie(LOGIN_CSRF_COOKIE)
        .is_some_and(|c| !presented_csrf.is_empty() && tokens_equal(c.value(), presented_csrf));
    if !csrf_ok {
        return login_form::render(
            &req,
            StatusCode::FORBIDDEN,
            Some("The login form expired. Please try again."),
        );
    }
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    let ok = token_matches(state.management_token(), token);
    state.metrics.ui_login(ok);
    if !ok {
        audit_login(&state, &req, "admin_ui", AuditOutcome::Failure).await;
        return login_form::render(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("That is not the management token."),
        );
    }
    let session = state.sessions.create();
    audit_login(&state, &req, &session.actor(), AuditOutcome::Success).await;
    let ttl = i64::try_from(state.sessions.ttl().as_secs()).unwrap_or(i64::MAX);
    let mut response = see_other("/admin");
    let cookies = [
        private_cookie(&req, SESSION_COOKIE, session.id.clone(), ttl),
        removal_cookie(LOGIN_CSRF_COOKIE),
    ];
    for cookie in &cookies {
        if let Err(e) = response.add_cookie(cookie) {
            tracing::warn!(error = %e, "cannot set a session cookie");
        }
    }
    response
}

async fn audit_login(state: &AdminState, req: &HttpRequest, actor: &str, outcome: AuditOutcome) {
    let event = NewAuditEvent {
        action: ACTION.to_owned(),
        context: audit_context(req, actor),
        project_id: None,
        token_id: None,
        outcome,
        reason: (outcome == AuditOutcome::Failure).then(|| "wrong management token".to_owned()),
        metadata: json!({}),
    };
    if let Err(e) = state.store.insert_audit(event).await {
        tracing::warn!(error = %e, "cannot write the login audit row");
    }
}
