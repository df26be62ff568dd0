//! The store traits on SQLite: one write transaction per use case, audit row included.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use llm_proxy_core::audit::{action, AuditContext, AuditEvent, AuditFilter, NewAuditEvent};
use llm_proxy_core::budget::{Budget, Spend, SpendPolicy};
use llm_proxy_core::project::{NewProject, Project, ProjectUpdate};
use llm_proxy_core::token::{NewToken, Token, TokenFilter, TokenUpdate, TokenUsage};
use llm_proxy_core::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::{audit, projects, tokens, usage, SqliteStore};
use crate::common::{
    aggregate_usage, audit_row, audit_row_from_new, merge_token_usage, now, trunc, unique_events,
};
use crate::rules;
use crate::usage::{Granularity, UsageCell, UsageGroup, UsagePoint};
use crate::{
    AuditStore, ProjectFilter, ProjectStore, Store, StoreError, StoreResult, TokenStore,
    UsageFilter, UsageRecord, UsageRow, UsageStore,
};

fn project_or_not_found(p: Option<Project>) -> StoreResult<Project> {
    p.ok_or_else(|| StoreError::not_found("project"))
}

fn token_or_not_found(t: Option<Token>) -> StoreResult<Token> {
    t.ok_or_else(|| StoreError::not_found("token"))
}

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn create_project_with(
        &self,
        new: NewProject,
        spend: SpendPolicy,
        ctx: &AuditContext,
    ) -> StoreResult<Project> {
        let keys = rules::encrypt_keys(&self.cipher, &new.provider_keys)?;
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let now = now();
                let (project, metadata) = rules::new_project(&new, &spend, &keys, now)?;
                projects::insert(tx, &project).map_err(rules::conflict_name(&project.name))?;
                for k in &keys {
                    projects::upsert_key(
                        tx,
                        project.id,
                        &k.provider,
                        &k.ciphertext,
                        &k.key_hint,
                        now,
                    )?;
                }
                let row = audit_row(
                    action::PROJECT_CREATE,
                    &ctx,
                    Some(project.id),
                    None,
                    metadata,
                );
                audit::insert(tx, &row)?;
                Ok(project)
            })
            .await
    }

    async fn get_project(&self, id: Uuid) -> StoreResult<Project> {
        self.pool
            .read(move |conn| project_or_not_found(projects::get(conn, id)?))
            .await
    }

    async fn list_projects(&self, filter: &ProjectFilter) -> StoreResult<Vec<Project>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| projects::list(conn, &filter))
            .await
    }

    async fn update_project(
        &self,
        id: Uuid,
        update: ProjectUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Project> {
        let keys = rules::encrypt_keys(&self.cipher, &update.provider_keys)?;
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let now = now();
                let mut project = project_or_not_found(projects::get(tx, id)?)?;
                let (deactivated, metadata) =
                    rules::apply_project_update(&mut project, &update, &keys, now)?;
                projects::update(tx, &project).map_err(rules::conflict_name(&project.name))?;
                for k in &keys {
                    projects::upsert_key(tx, id, &k.provider, &k.ciphertext, &k.key_hint, now)?;
                }
                let act = if deactivated {
                    action::PROJECT_DEACTIVATE
                } else {
                    action::PROJECT_UPDATE
                };
                audit::insert(tx, &audit_row(act, &ctx, Some(id), None, metadata))?;
                Ok(project)
            })
            .await
    }

    async fn deactivate_project(
        &self,
        id: Uuid,
        revoke_tokens: bool,
        ctx: &AuditContext,
    ) -> StoreResult<(Project, u64)> {
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let now = now();
                let mut project = project_or_not_found(projects::get(tx, id)?)?;
                let was_active = rules::deactivate_project(&mut project, now);
                if was_active {
                    projects::update(tx, &project)?;
                }
                let revoked = if revoke_tokens {
                    tokens::revoke_for_project(tx, id, now)?
                } else {
                    Vec::new()
                };
                let metadata = rules::deactivate_metadata(was_active, revoke_tokens, &revoked);
                let row = audit_row(action::PROJECT_DEACTIVATE, &ctx, Some(id), None, metadata);
                audit::insert(tx, &row)?;
                Ok((project, revoked.len() as u64))
            })
            .await
    }

    async fn provider_key(
        &self,
        project_id: Uuid,
        provider: &str,
    ) -> StoreResult<Option<SecretString>> {
        let provider = provider.to_owned();
        let stored = self
            .pool
            .read(move |conn| projects::key_ciphertext(conn, project_id, &provider))
            .await?;
        match stored {
            Some(ciphertext) => Ok(Some(SecretString::new(self.cipher.decrypt(&ciphertext)?))),
            None => Ok(None),
        }
    }

    async fn verify_encryption_key(&self) -> StoreResult<()> {
        let stored = self.pool.read(projects::any_ciphertext).await?;
        if let Some(ciphertext) = stored {
            self.cipher.decrypt(&ciphertext)?;
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token_with(
        &self,
        new: NewToken,
        budget: Option<Budget>,
        ctx: &AuditContext,
    ) -> StoreResult<Token> {
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let project = projects::get(tx, new.project_id)?;
                rules::check_project_for_token(project.as_ref())?;
                let (token, metadata) = rules::new_token(&new, budget, now())?;
                tokens::insert(tx, &token).map_err(rules::conflict_token)?;
                let row = audit_row(
                    action::TOKEN_CREATE,
                    &ctx,
                    Some(token.project_id),
                    Some(token.id),
                    metadata,
                );
                audit::insert(tx, &row)?;
                Ok(token)
            })
            .await
    }

    async fn get_token(&self, id: Uuid) -> StoreResult<Token> {
        self.pool
            .read(move |conn| token_or_not_found(tokens::get(conn, id)?))
            .await
    }

    async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>> {
        let token_hash = token_hash.to_owned();
        self.pool
            .read(move |conn| tokens::find_by_hash(conn, &token_hash))
            .await
    }

    async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<Token>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| tokens::list(conn, &filter))
            .await
    }

    async fn update_token(
        &self,
        id: Uuid,
        update: TokenUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Token> {
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let mut token = token_or_not_found(tokens::get(tx, id)?)?;
                let metadata = rules::apply_token_update(&mut token, &update, now())?;
                tokens::update(tx, &token)?;
                let row = audit_row(
                    action::TOKEN_UPDATE,
                    &ctx,
                    Some(token.project_id),
                    Some(id),
                    metadata,
                );
                audit::insert(tx, &row)?;
                Ok(token)
            })
            .await
    }

    async fn revoke_token(&self, id: Uuid, ctx: &AuditContext) -> StoreResult<Token> {
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                let mut token = token_or_not_found(tokens::get(tx, id)?)?;
                let already = rules::revoke_token(&mut token, now());
                if !already {
                    tokens::update(tx, &token)?;
                }
                let row = audit_row(
                    action::TOKEN_REVOKE,
                    &ctx,
                    Some(token.project_id),
                    Some(id),
                    json!({ "already_revoked": already }),
                );
                audit::insert(tx, &row)?;
                Ok(token)
            })
            .await
    }

    async fn revoke_project_tokens(
        &self,
        project_id: Uuid,
        ctx: &AuditContext,
    ) -> StoreResult<u64> {
        let ctx = ctx.clone();
        self.pool
            .write(move |tx| {
                project_or_not_found(projects::get(tx, project_id)?)?;
                let revoked = tokens::revoke_for_project(tx, project_id, now())?;
                let row = audit_row(
                    action::TOKEN_REVOKE_BULK,
                    &ctx,
                    Some(project_id),
                    None,
                    json!({ "tokens_revoked": revoked.len(), "token_ids": revoked }),
                );
                audit::insert(tx, &row)?;
                Ok(revoked.len() as u64)
            })
            .await
    }

    async fn record_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let merged = merge_token_usage(usage);
        self.pool
            .write(move |tx| {
                for (id, (requests, last_used_at)) in &merged {
                    tokens::add_usage(tx, *id, *requests, *last_used_at)?;
                }
                Ok(())
            })
            .await
    }

    async fn expire_tokens(
        &self,
        now: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> StoreResult<Vec<Uuid>> {
        let ctx = ctx.clone();
        let now = trunc(now);
        self.pool
            .write(move |tx| {
                let expired = tokens::expire(tx, now)?;
                for (token_id, project_id) in &expired {
                    let row = audit_row(
                        action::TOKEN_EXPIRE,
                        &ctx,
                        Some(*project_id),
                        Some(*token_id),
                        json!({ "expired_at": now }),
                    );
                    audit::insert(tx, &row)?;
                }
                Ok(expired.into_iter().map(|(token_id, _)| token_id).collect())
            })
            .await
    }

    async fn count_prunable_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        let before = trunc(expired_before);
        self.pool
            .read(move |conn| tokens::count_prunable(conn, before))
            .await
    }

    async fn prune_tokens(
        &self,
        expired_before: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> StoreResult<u64> {
        let ctx = ctx.clone();
        let before = trunc(expired_before);
        self.pool
            .write(move |tx| {
                let deleted = tokens::prune(tx, before)?;
                for (project_id, token_ids) in rules::group_by_project(&deleted) {
                    let row = audit_row(
                        action::TOKEN_PRUNE,
                        &ctx,
                        Some(project_id),
                        None,
                        json!({
                            "expired_before": before,
                            "tokens_deleted": token_ids.len(),
                            "token_ids": token_ids,
                        }),
                    );
                    audit::insert(tx, &row)?;
                }
                Ok(deleted.len() as u64)
            })
            .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn insert_audit(&self, event: NewAuditEvent) -> StoreResult<AuditEvent> {
        let row = audit_row_from_new(event);
        self.pool
            .write(move |tx| {
                audit::insert(tx, &row)?;
                Ok(row)
            })
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        let filter = filter.clone();
        self.pool.read(move |conn| audit::list(conn, &filter)).await
    }

    async fn get_audit(&self, id: Uuid) -> StoreResult<AuditEvent> {
        self.pool
            .read(move |conn| {
                audit::get(conn, id)?.ok_or_else(|| StoreError::not_found("audit event"))
            })
            .await
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(&self, records: &[UsageRecord]) -> StoreResult<u64> {
        if records.is_empty() {
            return Ok(0);
        }
        let records: Vec<UsageRecord> = unique_events(records).into_iter().cloned().collect();
        self.pool
            .write(move |tx| {
                let mut fresh = Vec::with_capacity(records.len());
                for r in &records {
                    if usage::mark_seen(tx, r.event_id, trunc(r.occurred_at))? {
                        fresh.push(r);
                    }
                }
                let counted = fresh.len() as u64;
                for (key, totals) in aggregate_usage(fresh) {
                    usage::add(tx, &key, &totals)?;
                }
                Ok(counted)
            })
            .await
    }

    async fn usage_summary(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| usage::summary(conn, &filter))
            .await
    }

    async fn usage_series(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsagePoint>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| usage::series(conn, &filter, granularity))
            .await
    }

    async fn usage_breakdown(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageGroup>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| usage::breakdown(conn, &filter))
            .await
    }

    async fn usage_cells(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
        limit: u32,
    ) -> StoreResult<Vec<UsageCell>> {
        let filter = filter.clone();
        self.pool
            .read(move |conn| usage::cells(conn, &filter, granularity, limit))
            .await
    }

    async fn spend(
        &self,
        project_id: Uuid,
        token_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Spend> {
        self.pool
            .read(move |conn| usage::spend(conn, project_id, token_id, since))
            .await
    }

    async fn prune_usage_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = trunc(before);
        let mut pruned = 0;
        loop {
            let n = self
                .pool
                .write(move |tx| usage::prune_seen(tx, before))
                .await?;
            pruned += n;
            if n < usage::PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.pool
            .read(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(())
            })
            .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
