//! The management token: `Authorization: Bearer <token>`, compared in constant time.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::token_secret::hash_secret;
use subtle::ConstantTimeEq;

use crate::context::{audit_context, API_ACTOR};
use crate::error::AdminError;
use crate::state::AdminState;

/// Whether `presented` is the management token. Both sides are hashed first, so neither the
/// content nor the length of the real token shows in the timing.
pub fn token_matches(expected: Option<&str>, presented: &str) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let a = hash_secret(expected);
    let b = hash_secret(presented);
    bool::from(a.as_bytes().ct_eq(b.as_bytes())) && !presented.is_empty()
}

/// A request that carried the management token; holds its audit context.
#[derive(Debug, Clone)]
pub struct ManagementAuth {
    pub audit: AuditContext,
}

impl FromRequest for ManagementAuth {
    type Error = AdminError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<ManagementAuth, AdminError> {
    let state = req
        .app_data::<web::Data<AdminState>>()
        .ok_or(AdminError::Unauthorized)?;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(AdminError::Unauthorized)?;
    if !token_matches(state.management_token(), presented) {
        state.metrics.auth_failure();
        return Err(AdminError::Unauthorized);
    }
    Ok(ManagementAuth {
        audit: audit_context(req, API_ACTOR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens() {
        assert!(token_matches(
            Some("a-long-management-token"),
            "a-long-management-token"
        ));
        assert!(!token_matches(
            Some("a-long-management-token"),
            "a-long-management-tokeX"
        ));
        assert!(!token_matches(Some("a-long-management-token"), ""));
        assert!(!token_matches(None, "anything"));
    }
}
