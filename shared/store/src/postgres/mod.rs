//! The distributed store: Postgres through a deadpool-postgres pool.

mod audit;
mod connect;
mod filter;
mod projects;
mod rows;
mod store;
mod tokens;
mod usage;

use std::sync::Arc;

use deadpool_postgres::Pool;
use llm_proxy_platform::Cipher;

pub(crate) use connect::{connect_single, describe_url, error_text};

use crate::{StoreError, StoreResult};

/// Postgres-backed [`crate::Store`]. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    cipher: Cipher,
    /// `postgres database … on host:port as user`, for error messages.
    target: Arc<str>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Builds a pool of at most `max_conns` connections and checks it with one. Does not
    /// migrate: run [`crate::migrate_postgres`] first; a schema behind this build is refused.
    pub async fn connect(url: &str, max_conns: usize, cipher: Cipher) -> StoreResult<Self> {
        let (pool, target) = connect::pool(url, max_conns).await?;
        let store = Self {
            pool,
            cipher,
            target: target.into(),
        };
        store.check_schema().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool
            .get()
            .await
            .map_err(|e| connect::pool_error(&self.target, e))
    }

    async fn check_schema(&self) -> StoreResult<()> {
        let client = self.client().await?;
        let has_history: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )
            .await?
            .try_get(0)?;
        let version: i64 = if has_history {
            client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::int8 FROM refinery_schema_history",
                    &[],
                )
                .await?
                .try_get(0)?
        } else {
            0
        };
        let needed = crate::migrate::postgres_schema_version();
        if version < needed {
            return Err(StoreError::Migration(format!(
                "{} is at schema version {version}, this build needs {needed}: run \
                 `llm-proxy migrate`",
                self.target
            )));
        }
        Ok(())
    }
}
