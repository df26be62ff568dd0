//! Projects: the unit that owns provider keys and tokens.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::budget::{Budget, DisconnectPolicy};
use crate::SecretString;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub is_active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Requests per minute across all tokens of the project; `None` is unlimited.
    pub rate_limit_rpm: Option<u32>,
    /// Hard cap on what all tokens of the project spend together; `None` is unlimited.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// What a stream does when its client goes away.
    #[serde(default)]
    pub on_disconnect: DisconnectPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Provider name to a masked hint of its key (`sk-...1234`). Keys themselves never leave the store
    /// except through `ProjectStore::provider_key`.
    pub providers: BTreeMap<String, ProviderKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderKeyInfo {
    pub key_hint: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub provider_keys: BTreeMap<String, SecretString>,
    pub rate_limit_rpm: Option<u32>,
}

/// A partial update; `None` leaves the field alone.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    /// Keys to set or replace; providers not named keep their key.
    pub provider_keys: BTreeMap<String, SecretString>,
    /// `Some(None)` clears the limit.
    pub rate_limit_rpm: Option<Option<u32>>,
    /// `Some(None)` removes the budget.
    pub budget: Option<Option<Budget>>,
    pub on_disconnect: Option<DisconnectPolicy>,
}
