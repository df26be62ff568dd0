//! Storage of projects, tokens, audit rows and usage: one trait per concern (TensorZero style),
//! one implementation per backend (SQLite embedded, Postgres distributed), both proven by the
//! shared conformance suite in `tests/conformance/`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use llm_proxy_core::audit::{AuditContext, AuditEvent, AuditFilter, NewAuditEvent};
use llm_proxy_core::budget::{Budget, SpendPolicy};
use llm_proxy_core::project::{NewProject, Project, ProjectUpdate};
use llm_proxy_core::token::{NewToken, Token, TokenFilter, TokenUpdate, TokenUsage};
use llm_proxy_core::SecretString;
use llm_proxy_platform::settings::DatabaseKind;
use llm_proxy_platform::{Cipher, Settings};
use uuid::Uuid;

mod common;
mod error;
mod migrate;
mod postgres;
mod rules;
mod sqlite;
pub mod usage;

pub use error::StoreError;
pub use migrate::{migrate_postgres, migrate_sqlite};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use usage::{
    Granularity, UsageCell, UsageFilter, UsageGroup, UsagePoint, UsageRecord, UsageRow, UsageStore,
    UsageTotals,
};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub active: Option<bool>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// `Conflict` when the name is taken. Writes the `project.create` audit row in the same transaction.
    async fn create_project(&self, new: NewProject, ctx: &AuditContext) -> StoreResult<Project> {
        self.create_project_with(new, SpendPolicy::default(), ctx)
            .await
    }
    /// As [`Self::create_project`], with a budget and a disconnect policy.
    async fn create_project_with(
        &self,
        new: NewProject,
        spend: SpendPolicy,
        ctx: &AuditContext,
    ) -> StoreResult<Project>;
    async fn get_project(&self, id: Uuid) -> StoreResult<Project>;
    async fn list_projects(&self, filter: &ProjectFilter) -> StoreResult<Vec<Project>>;
    /// Partial update; `project.update` audit row (or `project.deactivate` when it deactivates).
    async fn update_project(
        &self,
        id: Uuid,
        update: ProjectUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Project>;
    /// Soft delete: `is_active = false`, `deactivated_at` set, and, when asked, every active token
    /// revoked; one transaction. Returns the project and how many tokens were revoked.
    async fn deactivate_project(
        &self,
        id: Uuid,
        revoke_tokens: bool,
        ctx: &AuditContext,
    ) -> StoreResult<(Project, u64)>;
    /// The decrypted key of one provider, for the upstream request only.
    async fn provider_key(
        &self,
        project_id: Uuid,
        provider: &str,
    ) -> StoreResult<Option<SecretString>>;
    /// Decrypts one stored key (if any) so a wrong `LLM_PROXY_ENCRYPTION_KEY` stops start-up.
    async fn verify_encryption_key(&self) -> StoreResult<()>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// `NotFound` for an unknown project, `ProjectInactive` for an inactive one.
    async fn create_token(&self, new: NewToken, ctx: &AuditContext) -> StoreResult<Token> {
        self.create_token_with(new, None, ctx).await
    }
    /// As [`Self::create_token`], with a budget of its own.
    async fn create_token_with(
        &self,
        new: NewToken,
        budget: Option<Budget>,
        ctx: &AuditContext,
    ) -> StoreResult<Token>;
    async fn get_token(&self, id: Uuid) -> StoreResult<Token>;
    async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>>;
    async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<Token>>;
    async fn update_token(
        &self,
        id: Uuid,
        update: TokenUpdate,
        ctx: &AuditContext,
    ) -> StoreResult<Token>;
    /// Idempotent: revoking a revoked token returns it unchanged (and still audits the attempt).
    async fn revoke_token(&self, id: Uuid, ctx: &AuditContext) -> StoreResult<Token>;
    /// Revokes every active token of a project; returns how many.
    async fn revoke_project_tokens(&self, project_id: Uuid, ctx: &AuditContext)
        -> StoreResult<u64>;
    /// Adds counted requests and moves `last_used_at` forward, in one batch.
    async fn record_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()>;
    /// Marks active tokens whose `expires_at <= now` inactive (audit `token.expire` each);
    /// returns their ids.
    async fn expire_tokens(&self, now: DateTime<Utc>, ctx: &AuditContext)
        -> StoreResult<Vec<Uuid>>;
    /// How many tokens `prune_tokens` would delete.
    async fn count_prunable_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64>;
    /// Deletes tokens that expired (or were deactivated) before the given time.
    async fn prune_tokens(
        &self,
        expired_before: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, event: NewAuditEvent) -> StoreResult<AuditEvent>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>>;
    async fn get_audit(&self, id: Uuid) -> StoreResult<AuditEvent>;
}

#[async_trait]
pub trait Store: ProjectStore + TokenStore + AuditStore + UsageStore {
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

pub type DynStore = Arc<dyn Store>;

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

/// Opens the store `database.url` names (`sqlite:` or `postgres://`). Does not migrate: call
/// [`migrate`] first (a schema older than this build is refused with a message saying so).
/// An unreachable database is `StoreError::Unavailable` naming the host or path, never the
/// password.
pub async fn open(settings: &Settings, cipher: Cipher) -> StoreResult<DynStore> {
    match database_kind(settings)? {
        DatabaseKind::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, cipher).await?)),
        DatabaseKind::Postgres(url) => Ok(Arc::new(
            PostgresStore::connect(&url, settings.database.max_connections, cipher).await?,
        )),
    }
}

/// The store for a node that reads and writes only the usage ledger and holds no encryption
/// key (a dispatcher): the ledger never touches provider keys, so a throwaway cipher stands in
/// and every key-related call would fail to decrypt.
pub async fn open_ledger(settings: &Settings) -> StoreResult<DynStore> {
    let throwaway = Cipher::new(&llm_proxy_platform::EncryptionKey::generate());
    open(settings, throwaway).await
}

/// Applies pending migrations to the database `database.url` names (under an advisory lock on
/// Postgres, so concurrent starts are safe).
pub async fn migrate(settings: &Settings) -> StoreResult<()> {
    match database_kind(settings)? {
        DatabaseKind::Sqlite(path) => migrate_sqlite(&path).await,
        DatabaseKind::Postgres(url) => migrate_postgres(&url).await,
    }
}

fn database_kind(settings: &Settings) -> StoreResult<DatabaseKind> {
    settings
        .database_kind()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}
