//! `POST /manage/tokens/prune {expired_before, expected_count}`: deletes the tokens that
//! expired (or were deactivated) before the cut-off, but only when exactly `expected_count`
//! are prunable, the count the operator confirmed; else 409 with the current count. The store
//! writes a `token.prune` audit row per project in the deleting transaction; a refused prune is
//! audited as a failure.

use actix_web::{web, HttpResponse, ResponseError};
use llm_proxy_core::audit::{action, AuditOutcome, NewAuditEvent};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;
use serde_json::{json, Value};

use super::prunable::expired_before;
use crate::auth::ManagementAuth;
use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;
use crate::validate::JsonObject;

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
    body: web::Json<Value>,
) -> AdminResult<HttpResponse> {
    let body = JsonObject::parse(body.into_inner(), &["expired_before", "expected_count"])?;
    let before = expired_before(body.string("expired_before")?.as_deref())?;
    let expected = body
        .integer("expected_count")?
        .ok_or_else(|| {
            AdminError::invalid(
                "expected_count",
                "`expected_count` is required: the count from GET /manage/tokens/prunable",
            )
        })
        .and_then(|n| {
            u64::try_from(n).map_err(|_| {
                AdminError::invalid("expected_count", "`expected_count` must be 0 or more")
            })
        })?;
    let prunable = state.store.count_prunable_tokens(before).await?;
    if prunable != expected {
        let reason = format!(
            "{prunable} tokens are prunable now, not the {expected} confirmed; count again"
        );
        state
            .store
            .insert_audit(NewAuditEvent {
                action: action::TOKEN_PRUNE.to_owned(),
                context: auth.audit.clone(),
                project_id: None,
                token_id: None,
                outcome: AuditOutcome::Failure,
                reason: Some(reason.clone()),
                metadata: json!({
                    "expired_before": before,
                    "expected_count": expected,
                    "prunable": prunable,
                }),
            })
            .await?;
        return Ok(ApiError::new(ErrorCode::Conflict, reason)
            .with_param("expected_count")
            .error_response());
    }
    let deleted = state.store.prune_tokens(before, &auth.audit).await?;
    Ok(HttpResponse::Ok().json(json!({ "expired_before": before, "deleted": deleted })))
}
