//! `POST /manage/cache/purge`: the route and its auth exist; until the response cache lands it
//! purges nothing and says so.

use actix_web::{web, HttpResponse};
use llm_proxy_core::audit::{AuditOutcome, NewAuditEvent};
use serde_json::json;

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;

pub const ACTION: &str = "cache.purge";

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
) -> AdminResult<HttpResponse> {
    state
        .store
        .insert_audit(NewAuditEvent {
            action: ACTION.to_owned(),
            context: auth.audit.clone(),
            project_id: None,
            token_id: None,
            outcome: AuditOutcome::Success,
            reason: None,
            metadata: json!({ "purged": 0, "noop": true }),
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "purged": 0,
        "status": "noop",
        "message": "no response cache is enabled on this deployment; nothing was purged",
    })))
}
