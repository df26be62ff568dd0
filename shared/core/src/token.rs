//! Withering tokens as stored (the secret itself is never stored, only its hash).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::budget::Budget;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: Uuid,
    pub project_id: Uuid,
    /// SHA-256 hex of the secret.
    #[serde(skip_serializing)]
    pub token_hash: String,
    /// `wt_abcd...wxyz`: enough to recognise a token, never enough to use it.
    pub obfuscated: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub max_requests: Option<u64>,
    pub request_count: u64,
    /// Requests per minute for this token; `None` is unlimited.
    pub rate_limit_rpm: Option<u32>,
    /// Hard cap on what this token spends; `None` is unlimited (the project's still applies).
    #[serde(default)]
    pub budget: Option<Budget>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Token {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub project_id: Uuid,
    pub token_hash: String,
    pub obfuscated: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_requests: Option<u64>,
    pub rate_limit_rpm: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct TokenUpdate {
    pub is_active: Option<bool>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub max_requests: Option<Option<u64>>,
    pub rate_limit_rpm: Option<Option<u32>>,
    /// `Some(None)` removes the budget.
    pub budget: Option<Option<Budget>>,
}

#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub project_id: Option<Uuid>,
    pub active: Option<bool>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Requests counted by the proxy since the last write-back, applied in one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUsage {
    pub token_id: Uuid,
    pub requests: u64,
    pub last_used_at: DateTime<Utc>,
}
