//! Token admission as plain functions: load a token with its project and provider key from the
//! store, and decide whether a token may call a provider at all (revocation, expiry, project,
//! key). The token cache actor calls these; counting (quota and request rates) is the
//! [`llm_proxy_limits::Admission`]'s job, see [`crate::limits`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::token::Token;
use llm_proxy_core::{ErrorCode, SecretString};
use llm_proxy_limits::{AdmissionRequest, BudgetAsk};
use llm_proxy_platform::ApiError;
use llm_proxy_store::{DynStore, StoreError};
use uuid::Uuid;

use crate::budget::BudgetFacts;

/// What admission needs to know about a token's project (and the budgets of both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectFacts {
    pub active: bool,
    pub rate_limit_rpm: Option<u32>,
    pub budgets: BudgetFacts,
}

/// What the store said about one token, for one provider.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub token: Token,
    pub project: ProjectFacts,
    pub provider: String,
    pub key: Option<SecretString>,
}

/// A token that may call this provider, with the key to use and the limits to admit it under.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token_id: Uuid,
    pub project_id: Uuid,
    pub max_requests: Option<u64>,
    /// The token's `request_count` in the store when it was cached.
    pub used: u64,
    pub token_rpm: Option<u32>,
    pub project_rpm: Option<u32>,
    pub provider_key: SecretString,
    pub budgets: BudgetFacts,
}

impl Grant {
    /// `budget`: what this call asks of the budgets ([`crate::budget::ask`]).
    pub fn admission_request(&self, budget: Option<BudgetAsk>) -> AdmissionRequest {
        AdmissionRequest {
            token_id: self.token_id,
            project_id: self.project_id,
            max_requests: self.max_requests,
            used: self.used,
            token_rpm: self.token_rpm,
            project_rpm: self.project_rpm,
            budget,
        }
    }
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
    let project = match store.get_project(token.project_id).await {
        Ok(project) => ProjectFacts {
            active: project.is_active,
            rate_limit_rpm: project.rate_limit_rpm,
            budgets: BudgetFacts::load(
                &store,
                token.project_id,
                token.id,
                project.budget,
                token.budget,
                project.on_disconnect,
                Utc::now(),
            )
            .await?,
        },
        Err(StoreError::NotFound { .. }) => ProjectFacts::default(),
        Err(e) => return Err(e),
    };
    let key = if project.active {
        store.provider_key(token.project_id, &provider).await?
    } else {
        None
    };
    Ok(Some(Loaded {
        token,
        project,
        provider,
        key,
    }))
}

/// The rules that need no counting, in the order a client is told about them.
pub fn decide(
    token: &Token,
    project: ProjectFacts,
    keys: &HashMap<String, Option<SecretString>>,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<Grant, ApiError> {
    if !token.is_active {
        return Err(ErrorCode::TokenInactive.into());
    }
    if token.is_expired(now) {
        return Err(ErrorCode::TokenExpired.into());
    }
    if !project.active {
        return Err(ErrorCode::ProjectInactive.into());
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
        used: token.request_count,
        token_rpm: token.rate_limit_rpm,
        project_rpm: project.rate_limit_rpm,
        provider_key: key,
        budgets: project.budgets,
    })
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
            request_count: 1,
            rate_limit_rpm: Some(5),
            budget: None,
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

    const ACTIVE: ProjectFacts = ProjectFacts {
        active: true,
        rate_limit_rpm: Some(9),
        budgets: BudgetFacts {
            project: None,
            token: None,
            project_seed: crate::budget::Seed {
                since: None,
                spent: llm_proxy_core::budget::Spend {
                    tokens: 0,
                    cost_nano_usd: 0,
                },
            },
            token_seed: crate::budget::Seed {
                since: None,
                spent: llm_proxy_core::budget::Spend {
                    tokens: 0,
                    cost_nano_usd: 0,
                },
            },
            on_disconnect: llm_proxy_core::budget::DisconnectPolicy::Cancel,
        },
    };
    const INACTIVE: ProjectFacts = ProjectFacts {
        active: false,
        ..ACTIVE
    };

    fn code(r: Result<Grant, ApiError>) -> ErrorCode {
        r.map(|_| ()).unwrap_err().code
    }

    #[test]
    fn rules_in_order() {
        let now = Utc::now();
        let t = token();
        let grant = decide(&t, ACTIVE, &keys(), "openai", now).unwrap();
        assert_eq!(grant.provider_key.expose(), "sk-x");

        let mut revoked = t.clone();
        revoked.is_active = false;
        revoked.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(
            code(decide(&revoked, INACTIVE, &keys(), "openai", now)),
            ErrorCode::TokenInactive
        );

        let mut expired = t.clone();
        expired.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(
            code(decide(&expired, ACTIVE, &keys(), "openai", now)),
            ErrorCode::TokenExpired
        );

        assert_eq!(
            code(decide(&t, INACTIVE, &keys(), "openai", now)),
            ErrorCode::ProjectInactive
        );
        assert_eq!(
            code(decide(&t, ACTIVE, &keys(), "anthropic", now)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn the_grant_carries_every_limit() {
        let t = token();
        let grant = decide(&t, ACTIVE, &keys(), "openai", Utc::now()).unwrap();
        let req = grant.admission_request(None);
        assert_eq!(req.token_id, t.id);
        assert_eq!(req.project_id, t.project_id);
        assert_eq!(req.max_requests, Some(2));
        assert_eq!(req.used, 1);
        assert_eq!(req.token_rpm, Some(5));
        assert_eq!(req.project_rpm, Some(9));
    }
}
