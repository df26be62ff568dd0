//! Token use cases.

use chrono::{TimeDelta, Utc};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::budget::Budget;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::token::{NewToken, Token, TokenUpdate};
use llm_proxy_core::token_secret::TokenSecret;
use uuid::Uuid;

use crate::error::AdminResult;
use crate::state::AdminState;

/// What creating a token asks for (already validated).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub project_id: Uuid,
    pub duration_minutes: u32,
    pub max_requests: Option<u64>,
    pub rate_limit_rpm: Option<u32>,
    pub budget: Option<Budget>,
}

/// A new token and its secret: the only moment the secret exists outside the client.
pub struct Created {
    pub token: Token,
    pub secret: TokenSecret,
}

pub async fn create(
    state: &AdminState,
    ctx: &AuditContext,
    req: TokenRequest,
) -> AdminResult<Created> {
    let secret = TokenSecret::generate();
    let new = NewToken {
        project_id: req.project_id,
        token_hash: secret.hash(),
        obfuscated: secret.obfuscated(),
        expires_at: Some(Utc::now() + TimeDelta::minutes(i64::from(req.duration_minutes))),
        max_requests: req.max_requests,
        rate_limit_rpm: req.rate_limit_rpm,
    };
    // A new token changes no cached admission decision (negative entries are short-lived).
    let token = state.store.create_token_with(new, req.budget, ctx).await?;
    Ok(Created { token, secret })
}

pub async fn update(
    state: &AdminState,
    ctx: &AuditContext,
    id: Uuid,
    update: TokenUpdate,
) -> AdminResult<Token> {
    let token = state.store.update_token(id, update, ctx).await?;
    state.publish(ControlEvent::TokenChanged { token_id: id });
    Ok(token)
}

/// Idempotent: revoking a revoked token succeeds.
pub async fn revoke(state: &AdminState, ctx: &AuditContext, id: Uuid) -> AdminResult<Token> {
    let token = state.store.revoke_token(id, ctx).await?;
    state.publish(ControlEvent::TokenChanged { token_id: id });
    Ok(token)
}
