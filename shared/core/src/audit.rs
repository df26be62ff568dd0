//! Audit rows: one per mutation, written in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub action: String,
    pub actor: String,
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub outcome: AuditOutcome,
    pub reason: Option<String>,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "success" => Some(AuditOutcome::Success),
            "failure" => Some(AuditOutcome::Failure),
            _ => None,
        }
    }
}

/// Who asked for a mutation; the store turns it into the audit row of that mutation.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

impl AuditContext {
    pub fn system(actor: &str) -> Self {
        Self {
            actor: actor.to_owned(),
            ..Self::default()
        }
    }
}

/// An audit row to insert on its own (failures, logins), outside a store mutation.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub action: String,
    pub context: AuditContext,
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub outcome: AuditOutcome,
    pub reason: Option<String>,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Newest first; at most this many (the store caps it at 1000).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Action names, so the store, the API and the UI agree on spelling.
pub mod action {
    pub const PROJECT_CREATE: &str = "project.create";
    pub const PROJECT_UPDATE: &str = "project.update";
    pub const PROJECT_DEACTIVATE: &str = "project.deactivate";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_UPDATE: &str = "token.update";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const TOKEN_REVOKE_BULK: &str = "token.revoke_bulk";
    pub const TOKEN_EXPIRE: &str = "token.expire";
    pub const TOKEN_PRUNE: &str = "token.prune";
}
