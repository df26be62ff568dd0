//! Token admission as plain functions: load a token with its project and provider key from the
//! store, and decide whether a request may pass. The token cache actor calls these.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::token::Token;
use llm_proxy_core::{ErrorCode, SecretString};
use llm_proxy_platform::ApiError;
use llm_proxy_store::{DynStore, StoreError};
use uuid::Uuid;

/// What the store said about one token, for one provider.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub token: Token,
    pub project_active: bool,
    pub provider: String,
    pub key: Option<SecretString>,
}

/// A request that may go upstream, with the key to use.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token_id: Uuid,
    pub project_id: Uuid,
    pub max_requests: Option<u64>,
    /// Requests counted for this token when the grant was made (seeds the counter if it was
    /// trimmed meanwhile).
    pub used: u64,
    pub provider_key: SecretString,
}

/// Looks the token up by hash; `None` when it does not exist.
pub async fn load(
    store: DynStore,
    token_hash: String,
    provider: String,
) -> Result<Option<Loaded>, StoreError> {
    let Some(token) = store.find_token_by_hash(&token_hash).await? else {
        return Ok(None);
    };
    let project_active = match store.get_project(token.project_id).await {
        Ok(project) => project.is_active,
        Err(StoreError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };
    let key = if project_active {
        store.provider_key(token.project_id, &provider).await?
    } else {
        None
    };
    Ok(Some(Loaded {
        token,
        project_active,
        provider,
        key,
    }))
}

/// The admission rules, in the order a client is told about them.
pub fn decide(
    token: &Token,
    project_active: bool,
    keys: &HashMap<String, Option<SecretString>>,
    provider: &str,
    used: u64,
    now: DateTime<Utc>,
) -> Result<Grant, ApiError> {
    if !token.is_active {
        return Err(ErrorCode::TokenInactive.into());
    }
    if token.is_expired(now) {
        return Err(ErrorCode::TokenExpired.into());
    }
    if !project_active {
        return Err(ErrorCode::ProjectInactive.into());
    }
    if token.max_requests.is_some_and(|max| used >= max) {
        return Err(ErrorCode::QuotaExceeded.into());
    }
    let key = keys.get(provider).cloned().flatten().ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("The token's project has no API key for provider `{provider}`."),
        )
        .with_param("provider")
    })?;
    Ok(Grant {
        token_id: token.id,
        project_id: token.project_id,
        max_requests: token.max_requests,
        used,
        provider_key: key,
    })
}

/// Counts one request if the lifetime quota allows it. `used` is the token's counter.
pub fn consume(used: &mut u64, max_requests: Option<u64>) -> Result<(), ApiError> {
    if max_requests.is_some_and(|max| *used >= max) {
        return Err(ErrorCode::QuotaExceeded.into());
    }
    *used += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Duration;

    fn token() -> Token {
        Token {
            id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
            token_hash: "h".into(),
            obfuscated: "wt_...".into(),
            expires_at: None,
            is_active: true,
            deactivated_at: None,
            max_requests: Some(2),
            request_count: 0,
            rate_limit_rpm: None,
            created_at: Utc::now(),
            last_used_at: None,
        }
    }

    fn keys() -> HashMap<String, Option<SecretString>> {
        HashMap::from([
            ("openai".to_owned(), Some(SecretString::new("sk-x"))),
            ("anthropic".to_owned(), None),
        ])
    }

    fn code(r: Result<Grant, ApiError>) -> ErrorCode {
        r.map(|_| ()).unwrap_err().code
    }

    #[test]
    fn rules_in_order() {
        let now = Utc::now();
        let t = token();
        let grant = decide(&t, true, &keys(), "openai", 0, now).unwrap();
        assert_eq!(grant.provider_key.expose(), "sk-x");

        let mut revoked = t.clone();
        revoked.is_active = false;
        revoked.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(
            code(decide(&revoked, false, &keys(), "openai", 9, now)),
            ErrorCode::TokenInactive
        );

        let mut expired = t.clone();
        expired.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(
            code(decide(&expired, true, &keys(), "openai", 0, now)),
            ErrorCode::TokenExpired
        );

        assert_eq!(
            code(decide(&t, false, &keys(), "openai", 0, now)),
            ErrorCode::ProjectInactive
        );
        assert_eq!(
            code(decide(&t, true, &keys(), "openai", 2, now)),
            ErrorCode::QuotaExceeded
        );
        assert_eq!(
            code(decide(&t, true, &keys(), "anthropic", 0, now)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn consume_is_exact() {
        let mut used = 0;
        assert!(consume(&mut used, Some(2)).is_ok());
        assert!(consume(&mut used, Some(2)).is_ok());
        assert_eq!(
            consume(&mut used, Some(2)).unwrap_err().code,
            ErrorCode::QuotaExceeded
        );
        assert_eq!(used, 2);
        assert!(consume(&mut used, None).is_ok());
        assert_eq!(used, 3);
    }
}
