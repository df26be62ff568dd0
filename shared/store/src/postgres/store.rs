//! The store traits on Postgres: one transaction per use case, audit row included.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use llm_proxy_core::audit::{action, AuditContext, AuditEvent, AuditFilter, NewAuditEvent};
use llm_proxy_core::budget::{Budget, Spend, SpendPolicy};
use llm_proxy_core::project::{NewProject, Project, ProjectUpdate};
use llm_proxy_core::token::{NewToken, Token, TokenFilter, TokenUpdate, TokenUsage};
use llm_proxy_core::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::{audit, projects, tokens, usage, PostgresStore};
use crate::common::{
    aggregate_usage, audit_row, audit_row_from_new, merge_token_usage, now, to_i64, trunc,
    unique_events,
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
impl ProjectStore for PostgresStore {
    async fn create_project_with(
        &self,
        new: NewProject,
        spend: SpendPolicy,
        ctx: &AuditContext,
    ) -> StoreResult<Project> {
        let keys = rules::encrypt_keys(&self.cipher, &new.provider_keys)?;
        let now = now();
        let (project, metadata) = rules::new_project(&new, &spend, &keys, now)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        projects::insert(&tx, &project)
            .await
            .map_err(rules::conflict_name(&project.name))?;
        for k in &keys {
            projects::upsert_key(
                &tx,
                project.id,
                &k.provider,
                &k.ciphertext,
                &k.key_hint,
                now,
            )
            .await?;
        }
        let row = audit_row(
            action::PROJECT_CREATE,
            ctx,
            Some(project.id),
            None,
            metadata,
        );
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok(project)
    }

    async fn get_project(&self, id: Uuid) -> StoreResult<Project> {
        let client = self.client().await?;
        project_or_not_found(projects::get(&client, id).await?)
    }

    async fn list_projects(&self, filter: &ProjectFilter) -> StoreResult<Vec<Project>> {
        let client = self.client().await?;
        projects::list(&client, filter).await
    }

    async fn update_project(
        &self,
        id: Uuid,
        update: ProjectUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Project> {
        let keys = rules::encrypt_keys(&self.cipher, &update.provider_keys)?;
        let now = now();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut project = project_or_not_found(projects::get_for_update(&tx, id).await?)?;
        let (deactivated, metadata) =
            rules::apply_project_update(&mut project, &update, &keys, now)?;
        projects::update(&tx, &project)
            .await
            .map_err(rules::conflict_name(&project.name))?;
        for k in &keys {
            projects::upsert_key(&tx, id, &k.provider, &k.ciphertext, &k.key_hint, now).await?;
        }
        let act = if deactivated {
            action::PROJECT_DEACTIVATE
        } else {
            action::PROJECT_UPDATE
        };
        audit::insert(&tx, &audit_row(act, ctx, Some(id), None, metadata)).await?;
        tx.commit().await?;
        Ok(project)
    }

    async fn deactivate_project(
        &self,
        id: Uuid,
        revoke_tokens: bool,
        ctx: &AuditContext,
    ) -> StoreResult<(Project, u64)> {
        let now = now();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut project = project_or_not_found(projects::get_for_update(&tx, id).await?)?;
        let was_active = rules::deactivate_project(&mut project, now);
        if was_active {
            projects::update(&tx, &project).await?;
        }
        let revoked = if revoke_tokens {
            tokens::revoke_for_project(&tx, id, now).await?
        } else {
            Vec::new()
        };
        let metadata = rules::deactivate_metadata(was_active, revoke_tokens, &revoked);
        let row = audit_row(action::PROJECT_DEACTIVATE, ctx, Some(id), None, metadata);
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok((project, revoked.len() as u64))
    }

    async fn provider_key(
        &self,
        project_id: Uuid,
        provider: &str,
    ) -> StoreResult<Option<SecretString>> {
        let client = self.client().await?;
        match projects::key_ciphertext(&client, project_id, provider).await? {
            Some(ciphertext) => Ok(Some(SecretString::new(self.cipher.decrypt(&ciphertext)?))),
            None => Ok(None),
        }
    }

    async fn verify_encryption_key(&self) -> StoreResult<()> {
        let client = self.client().await?;
        if let Some(ciphertext) = projects::any_ciphertext(&client).await? {
            self.cipher.decrypt(&ciphertext)?;
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token_with(
        &self,
        new: NewToken,
        budget: Option<Budget>,
        ctx: &AuditContext,
    ) -> StoreResult<Token> {
        let (token, metadata) = rules::new_token(&new, budget, now())?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A share lock: a concurrent deactivation cannot slip between check and insert.
        let project = projects::get_for_share(&tx, new.project_id).await?;
        rules::check_project_for_token(project.as_ref())?;
        tokens::insert(&tx, &token)
            .await
            .map_err(rules::conflict_token)?;
        let row = audit_row(
            action::TOKEN_CREATE,
            ctx,
            Some(token.project_id),
            Some(token.id),
            metadata,
        );
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn get_token(&self, id: Uuid) -> StoreResult<Token> {
        let client = self.client().await?;
        token_or_not_found(tokens::get(&client, id).await?)
    }

    async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>> {
        let client = self.client().await?;
        tokens::find_by_hash(&client, token_hash).await
    }

    async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<Token>> {
        let client = self.client().await?;
        tokens::list(&client, filter).await
    }

    async fn update_token(
        &self,
        id: Uuid,
        update: TokenUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Token> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut token = token_or_not_found(tokens::get_for_update(&tx, id).await?)?;
        let metadata = rules::apply_token_update(&mut token, &update, now())?;
        tokens::update(&tx, &token).await?;
        let row = audit_row(
            action::TOKEN_UPDATE,
            ctx,
            Some(token.project_id),
            Some(id),
            metadata,
        );
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn revoke_token(&self, id: Uuid, ctx: &AuditContext) -> StoreResult<Token> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut token = token_or_not_found(tokens::get_for_update(&tx, id).await?)?;
        let already = rules::revoke_token(&mut token, now());
        if !already {
            tokens::update(&tx, &token).await?;
        }
        let row = audit_row(
            action::TOKEN_REVOKE,
            ctx,
            Some(token.project_id),
            Some(id),
            json!({ "already_revoked": already }),
        );
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn revoke_project_tokens(
        &self,
        project_id: Uuid,
        ctx: &AuditContext,
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        project_or_not_found(projects::get(&tx, project_id).await?)?;
        let revoked = tokens::revoke_for_project(&tx, project_id, now()).await?;
        let row = audit_row(
            action::TOKEN_REVOKE_BULK,
            ctx,
            Some(project_id),
            None,
            json!({ "tokens_revoked": revoked.len(), "token_ids": revoked }),
        );
        audit::insert(&tx, &row).await?;
        tx.commit().await?;
        Ok(revoked.len() as u64)
    }

    async fn record_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let merged = merge_token_usage(usage);
        let mut ids = Vec::with_capacity(merged.len());
        let mut requests = Vec::with_capacity(merged.len());
        let mut last_used = Vec::with_capacity(merged.len());
        for (id, (n, at)) in merged {
            ids.push(id);
            requests.push(to_i64(n, "requests")?);
            last_used.push(at);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tokens::add_usage(&tx, &ids, &requests, &last_used).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn expire_tokens(
        &self,
        now: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> StoreResult<Vec<Uuid>> {
        let now = trunc(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let expired = tokens::expire(&tx, now).await?;
        let rows: Vec<AuditEvent> = expired
            .iter()
            .map(|(token_id, project_id)| {
                audit_row(
                    action::TOKEN_EXPIRE,
                    ctx,
                    Some(*project_id),
                    Some(*token_id),
                    json!({ "expired_at": now }),
                )
            })
            .collect();
        audit::insert_many(&tx, &rows).await?;
        tx.commit().await?;
        Ok(expired.into_iter().map(|(token_id, _)| token_id).collect())
    }

    async fn count_prunable_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        tokens::count_prunable(&client, trunc(expired_before)).await
    }

    async fn prune_tokens(
        &self,
        expired_before: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> StoreResult<u64> {
        let before = trunc(expired_before);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let deleted = tokens::prune(&tx, before).await?;
        let rows: Vec<AuditEvent> = rules::group_by_project(&deleted)
            .into_iter()
            .map(|(project_id, token_ids)| {
                audit_row(
                    action::TOKEN_PRUNE,
                    ctx,
                    Some(project_id),
                    None,
                    json!({
                        "expired_before": before,
                        "tokens_deleted": token_ids.len(),
                        "token_ids": token_ids,
                    }),
                )
            })
            .collect();
        audit::insert_many(&tx, &rows).await?;
        tx.commit().await?;
        Ok(deleted.len() as u64)
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn insert_audit(&self, event: NewAuditEvent) -> StoreResult<AuditEvent> {
        let row = audit_row_from_new(event);
        let client = self.client().await?;
        audit::insert(&client, &row).await?;
        Ok(row)
    }

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        let client = self.client().await?;
        audit::list(&client, filter).await
    }

    async fn get_audit(&self, id: Uuid) -> StoreResult<AuditEvent> {
        let client = self.client().await?;
        audit::get(&client, id)
            .await?
            .ok_or_else(|| StoreError::not_found("audit event"))
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn record_usage(&self, records: &[UsageRecord]) -> StoreResult<u64> {
        if records.is_empty() {
            return Ok(0);
        }
        let unique = unique_events(records);
        let ids: Vec<Uuid> = unique.iter().map(|r| r.event_id).collect();
        let occurred: Vec<DateTime<Utc>> = unique.iter().map(|r| trunc(r.occurred_at)).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let fresh = usage::mark_seen(&tx, &ids, &occurred).await?;
        let buckets = aggregate_usage(unique.into_iter().filter(|r| fresh.contains(&r.event_id)));
        usage::add(&tx, &buckets).await?;
        tx.commit().await?;
        Ok(fresh.len() as u64)
    }

    async fn usage_summary(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
        let client = self.client().await?;
        usage::summary(&client, filter).await
    }

    async fn usage_series(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsagePoint>> {
        let client = self.client().await?;
        usage::series(&client, filter, granularity).await
    }

    async fn usage_breakdown(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageGroup>> {
        let client = self.client().await?;
        usage::breakdown(&client, filter).await
    }

    async fn usage_cells(
        &self,
        filter: &UsageFilter,
        granularity: Granularity,
        limit: u32,
    ) -> StoreResult<Vec<UsageCell>> {
        let client = self.client().await?;
        usage::cells(&client, filter, granularity, limit).await
    }

    async fn spend(
        &self,
        project_id: Uuid,
        token_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Spend> {
        let client = self.client().await?;
        usage::spend(&client, project_id, token_id, since).await
    }

    async fn prune_usage_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        let before = trunc(before);
        let mut pruned = 0;
        loop {
            let n = usage::prune_seen(&client, before).await?;
            pruned += n;
            if n < usage::prune_batch() {
                return Ok(pruned);
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
