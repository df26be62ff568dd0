//! What a mutation does to a row, decided once for both backends: the backends only load, call
//! these, and write back (with the audit row these describe).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use llm_proxy_core::budget::{Budget, SpendPolicy};
use llm_proxy_core::project::{NewProject, Project, ProjectUpdate, ProviderKeyInfo};
use llm_proxy_core::token::{NewToken, Token, TokenUpdate};
use llm_proxy_core::SecretString;
use llm_proxy_platform::Cipher;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::common::{trunc_opt, validate_budget, validate_project_name, validate_provider};
use crate::{StoreError, StoreResult};

/// A provider key ready to store.
pub(crate) struct EncryptedKey {
    pub provider: String,
    pub ciphertext: Vec<u8>,
    pub key_hint: String,
}

pub(crate) fn encrypt_keys(
    cipher: &Cipher,
    keys: &BTreeMap<String, SecretString>,
) -> StoreResult<Vec<EncryptedKey>> {
    keys.iter()
        .map(|(provider, key)| {
            validate_provider(provider)?;
            if key.expose().trim().is_empty() {
                return Err(StoreError::Invalid(format!(
                    "the {provider} key must not be empty"
                )));
            }
            Ok(EncryptedKey {
                provider: provider.clone(),
                ciphertext: cipher.encrypt(key.expose()),
                key_hint: key.hint(),
            })
        })
        .collect()
}

fn add_hints(project: &mut Project, keys: &[EncryptedKey], at: DateTime<Utc>) {
    for k in keys {
        project.providers.insert(
            k.provider.clone(),
            ProviderKeyInfo {
                key_hint: k.key_hint.clone(),
                updated_at: at,
            },
        );
    }
}

/// A new project row (with hints of its keys) and the metadata of its audit row.
pub(crate) fn new_project(
    new: &NewProject,
    spend: &SpendPolicy,
    keys: &[EncryptedKey],
    now: DateTime<Utc>,
) -> StoreResult<(Project, Value)> {
    let name = validate_project_name(&new.name)?;
    validate_budget(spend.budget.as_ref())?;
    let mut project = Project {
        id: Uuid::now_v7(),
        name,
        is_active: true,
        deactivated_at: None,
        rate_limit_rpm: new.rate_limit_rpm,
        budget: spend.budget,
        on_disconnect: spend.on_disconnect,
        created_at: now,
        updated_at: now,
        providers: BTreeMap::new(),
    };
    add_hints(&mut project, keys, now);
    let metadata = json!({
        "name": project.name,
        "providers": project.providers.keys().collect::<Vec<_>>(),
        "rate_limit_rpm": project.rate_limit_rpm,
        "budget": project.budget,
        "on_disconnect": project.on_disconnect,
    });
    Ok((project, metadata))
}

pub(crate) fn conflict_name(name: &str) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a project named {name:?} already exists"))
        }
        other => other,
    }
}

/// Applies an update in place; returns whether it deactivated the project and the metadata of
/// the audit row (the fields that changed, key names only).
pub(crate) fn apply_project_update(
    project: &mut Project,
    update: &ProjectUpdate,
    keys: &[EncryptedKey],
    now: DateTime<Utc>,
) -> StoreResult<(bool, Value)> {
    let mut changes = Map::new();
    if let Some(name) = &update.name {
        let name = validate_project_name(name)?;
        if name != project.name {
            changes.insert("name".into(), json!({ "from": project.name, "to": name }));
            project.name = name;
        }
    }
    if let Some(rpm) = update.rate_limit_rpm {
        if rpm != project.rate_limit_rpm {
            changes.insert(
                "rate_limit_rpm".into(),
                json!({ "from": project.rate_limit_rpm, "to": rpm }),
            );
            project.rate_limit_rpm = rpm;
        }
    }
    budget_change(&mut changes, &mut project.budget, update.budget)?;
    if let Some(policy) = update.on_disconnect {
        if policy != project.on_disconnect {
            changes.insert(
                "on_disconnect".into(),
                json!({ "from": project.on_disconnect, "to": policy }),
            );
            project.on_disconnect = policy;
        }
    }
    let mut deactivated = false;
    if let Some(active) = update.is_active {
        if active != project.is_active {
            changes.insert("is_active".into(), json!(active));
            project.is_active = active;
            project.deactivated_at = if active { None } else { Some(now) };
            deactivated = !active;
        }
    }
    if !keys.is_empty() {
        changes.insert(
            "providers".into(),
            json!(keys.iter().map(|k| &k.provider).collect::<Vec<_>>()),
        );
        add_hints(project, keys, now);
    }
    if !changes.is_empty() {
        project.updated_at = now;
    }
    Ok((deactivated, json!({ "changes": changes })))
}

/// Marks a project inactive (unless it already is); returns whether it was active.
pub(crate) fn deactivate_project(project: &mut Project, now: DateTime<Utc>) -> bool {
    let was_active = project.is_active;
    if was_active {
        project.is_active = false;
        project.deactivated_at = Some(now);
        project.updated_at = now;
    }
    was_active
}

pub(crate) fn deactivate_metadata(
    was_active: bool,
    revoke_tokens: bool,
    revoked: &[Uuid],
) -> Value {
    json!({
        "already_inactive": !was_active,
        "revoke_tokens": revoke_tokens,
        "tokens_revoked": revoked.len(),
        "token_ids": revoked,
    })
}

/// Checks the project a token is created for.
pub(crate) fn check_project_for_token(project: Option<&Project>) -> StoreResult<()> {
    match project {
        None => Err(StoreError::not_found("project")),
        Some(p) if !p.is_active => Err(StoreError::ProjectInactive),
        Some(_) => Ok(()),
    }
}

/// Sets or removes a budget; records the change.
fn budget_change(
    changes: &mut Map<String, Value>,
    current: &mut Option<Budget>,
    update: Option<Option<Budget>>,
) -> StoreResult<()> {
    if let Some(budget) = update {
        validate_budget(budget.as_ref())?;
        if budget != *current {
            changes.insert("budget".into(), json!({ "from": current, "to": budget }));
            *current = budget;
        }
    }
    Ok(())
}

pub(crate) fn new_token(
    new: &NewToken,
    budget: Option<Budget>,
    now: DateTime<Utc>,
) -> StoreResult<(Token, Value)> {
    validate_budget(budget.as_ref())?;
    if new.token_hash.trim().is_empty() {
        return Err(StoreError::Invalid(
            "token hash must not be empty".to_owned(),
        ));
    }
    let token = Token {
        id: Uuid::now_v7(),
        project_id: new.project_id,
        token_hash: new.token_hash.clone(),
        obfuscated: new.obfuscated.clone(),
        expires_at: trunc_opt(new.expires_at),
        is_active: true,
        deactivated_at: None,
        max_requests: new.max_requests,
        request_count: 0,
        rate_limit_rpm: new.rate_limit_rpm,
        budget,
        created_at: now,
        last_used_at: None,
    };
    let metadata = json!({
        "obfuscated": token.obfuscated,
        "expires_at": token.expires_at,
        "max_requests": token.max_requests,
        "rate_limit_rpm": token.rate_limit_rpm,
        "budget": token.budget,
    });
    Ok((token, metadata))
}

pub(crate) fn conflict_token(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict("a token with this hash already exists".to_owned())
        }
        other => other,
    }
}

/// Applies an update in place; returns the metadata of the audit row.
pub(crate) fn apply_token_update(
    token: &mut Token,
    update: &TokenUpdate,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    let mut changes = Map::new();
    budget_change(&mut changes, &mut token.budget, update.budget)?;
    if let Some(active) = update.is_active {
        if active != token.is_active {
            changes.insert("is_active".into(), json!(active));
            token.is_active = active;
            token.deactivated_at = if active { None } else { Some(now) };
        }
    }
    if let Some(expires_at) = update.expires_at {
        let expires_at = trunc_opt(expires_at);
        if expires_at != token.expires_at {
            changes.insert(
                "expires_at".into(),
                json!({ "from": token.expires_at, "to": expires_at }),
            );
            token.expires_at = expires_at;
        }
    }
    if let Some(max) = update.max_requests {
        if max != token.max_requests {
            changes.insert(
                "max_requests".into(),
                json!({ "from": token.max_requests, "to": max }),
            );
            token.max_requests = max;
        }
    }
    if let Some(rpm) = update.rate_limit_rpm {
        if rpm != token.rate_limit_rpm {
            changes.insert(
                "rate_limit_rpm".into(),
                json!({ "from": token.rate_limit_rpm, "to": rpm }),
            );
            token.rate_limit_rpm = rpm;
        }
    }
    Ok(json!({ "changes": changes }))
}

/// Revokes in place; returns whether it was already revoked.
pub(crate) fn revoke_token(token: &mut Token, now: DateTime<Utc>) -> bool {
    let already = !token.is_active;
    if !already {
        token.is_active = false;
        token.deactivated_at = Some(now);
    }
    already
}

/// `(token, project)` pairs grouped by project, for one audit row per project.
pub(crate) fn group_by_project(pairs: &[(Uuid, Uuid)]) -> BTreeMap<Uuid, Vec<Uuid>> {
    let mut grouped: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (token_id, project_id) in pairs {
        grouped.entry(*project_id).or_default().push(*token_id);
    }
    grouped
}
