//! Token expiry: active tokens past `expires_at` become inactive (audit `token.expire`).

use chrono::Utc;
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::control::ControlEvent;
use uuid::Uuid;

use crate::context::SWEEP_ACTOR;
use crate::error::AdminResult;
use crate::state::AdminState;

/// One sweep; returns the ids of the tokens it expired.
pub async fn expire_tokens(state: &AdminState) -> AdminResult<Vec<Uuid>> {
    let ctx = AuditContext::system(SWEEP_ACTOR);
    let expired = match state.store.expire_tokens(Utc::now(), &ctx).await {
        Ok(expired) => expired,
        Err(e) => {
            state.metrics.sweep_error();
            return Err(e.into());
        }
    };
    state.metrics.sweep(expired.len());
    if !expired.is_empty() {
        tracing::info!(count = expired.len(), "expired tokens marked inactive");
    }
    for token_id in &expired {
        state.publish(ControlEvent::TokenChanged {
            token_id: *token_id,
        });
    }
    Ok(expired)
}
