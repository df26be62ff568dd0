//! JSON shapes of the management API (see `openapi.json`).

use llm_proxy_core::token::Token;
use llm_proxy_core::token_secret::TokenSecret;
use serde_json::{json, Value};

/// A token as lists and gets show it: the secret only obfuscated.
pub fn token(t: &Token) -> Value {
    json!({
        "id": t.id,
        "project_id": t.project_id,
        "token": t.obfuscated,
        "is_active": t.is_active,
        "expires_at": t.expires_at,
        "deactivated_at": t.deactivated_at,
        "max_requests": t.max_requests,
        "request_count": t.request_count,
        "rate_limit_rpm": t.rate_limit_rpm,
        "budget": t.budget,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
    })
}

/// A token just created: the one time its secret is shown.
pub fn created_token(t: &Token, secret: &TokenSecret) -> Value {
    json!({
        "id": t.id,
        "project_id": t.project_id,
        "token": secret.expose(),
        "obfuscated_token": t.obfuscated,
        "expires_at": t.expires_at,
        "max_requests": t.max_requests,
        "rate_limit_rpm": t.rate_limit_rpm,
        "budget": t.budget,
        "created_at": t.created_at,
    })
}
