//! Project use cases.

use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::budget::SpendPolicy;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::project::{NewProject, Project, ProjectUpdate};
use uuid::Uuid;

use crate::error::AdminResult;
use crate::state::AdminState;

pub async fn create(
    state: &AdminState,
    ctx: &AuditContext,
    new: NewProject,
    spend: SpendPolicy,
) -> AdminResult<Project> {
    Ok(state.store.create_project_with(new, spend, ctx).await?)
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct Updated {
    pub project: Project,
    pub tokens_revoked: u64,
}

/// Applies a partial update. `is_active: Some(false)` deactivates (revoking every token when
/// `revoke_tokens`); `revoke_tokens` alone revokes the project's tokens and keeps it active.
pub async fn update(
    state: &AdminState,
    ctx: &AuditContext,
    id: Uuid,
    mut update: ProjectUpdate,
    revoke_tokens: bool,
) -> AdminResult<Updated> {
    let deactivate = update.is_active == Some(false);
    if deactivate {
        update.is_active = None;
    }
    let affects_admission = update.is_active.is_some()
        || !update.provider_keys.is_empty()
        || update.rate_limit_rpm.is_some()
        || update.budget.is_some()
        || update.on_disconnect.is_some();
    let has_changes = affects_admission || update.name.is_some();

    let mut project = if has_changes {
        let project = state.store.update_project(id, update, ctx).await?;
        if affects_admission {
            state.publish(ControlEvent::ProjectChanged { project_id: id });
        }
        project
    } else {
        state.store.get_project(id).await?
    };
    let mut tokens_revoked = 0;
    if deactivate {
        let (deactivated, revoked) = state
            .store
            .deactivate_project(id, revoke_tokens, ctx)
            .await?;
        state.publish(ControlEvent::ProjectChanged { project_id: id });
        project = deactivated;
        tokens_revoked = revoked;
    } else if revoke_tokens {
        tokens_revoked = revoke_all_tokens(state, ctx, id).await?;
    }
    Ok(Updated {
        project,
        tokens_revoked,
    })
}

/// Soft delete: inactive, optionally with every token revoked.
pub async fn deactivate(
    state: &AdminState,
    ctx: &AuditContext,
    id: Uuid,
    revoke_tokens: bool,
) -> AdminResult<Updated> {
    let (project, tokens_revoked) = state
        .store
        .deactivate_project(id, revoke_tokens, ctx)
        .await?;
    state.publish(ControlEvent::ProjectChanged { project_id: id });
    Ok(Updated {
        project,
        tokens_revoked,
    })
}

/// Revokes every active token of the project; returns how many.
pub async fn revoke_all_tokens(
    state: &AdminState,
    ctx: &AuditContext,
    id: Uuid,
) -> AdminResult<u64> {
    let revoked = state.store.revoke_project_tokens(id, ctx).await?;
    state.publish(ControlEvent::ProjectChanged { project_id: id });
    Ok(revoked)
}
