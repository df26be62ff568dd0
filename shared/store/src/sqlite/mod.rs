//! The embedded store: one SQLite file in WAL mode (rusqlite, bundled).

mod audit;
mod pool;
mod projects;
mod rows;
mod store;
mod tokens;
mod usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use llm_proxy_platform::Cipher;
use rusqlite::{Connection, OptionalExtension};

use crate::{StoreError, StoreResult};

/// SQLite-backed [`crate::Store`]. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<pool::Pool>,
    cipher: Cipher,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the file (creating it and its directory when absent). Does not migrate: run
    /// [`crate::migrate_sqlite`] first; a file whose schema is behind this build is refused.
    pub async fn open(path: impl AsRef<Path>, cipher: Cipher) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let opened = path.clone();
        let pool = tokio::task::spawn_blocking(move || {
            let pool = pool::Pool::open(&opened)?;
            Ok::<_, StoreError>(pool)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))??;
        let store = Self {
            pool: Arc::new(pool),
            cipher,
            path: Arc::new(path),
        };
        store.check_schema().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn check_schema(&self) -> StoreResult<()> {
        let path = Arc::clone(&self.path);
        let needed = crate::migrate::sqlite_schema_version();
        self.pool
            .read(move |conn| {
                let version = schema_version(conn)?;
                if version < needed {
                    return Err(StoreError::Migration(format!(
                        "sqlite database {} is at schema version {version}, this build needs \
                         {needed}: run `llm-proxy migrate`",
                        path.display()
                    )));
                }
                Ok(())
            })
            .await
    }
}

/// The newest applied refinery migration, 0 when none.
pub(crate) fn schema_version(conn: &Connection) -> StoreResult<i64> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(0);
    }
    let version: Option<i64> = conn.query_row(
        "SELECT MAX(version) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )?;
    Ok(version.unwrap_or(0))
}

/// A plain connection for refinery (which needs `&mut Connection`).
pub(crate) fn open_migration_connection(path: &Path) -> StoreResult<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| pool::unavailable(path, &e))?;
    }
    pool::open_connection(path, false)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict("already exists".to_owned())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::CannotOpen
                        | ErrorCode::ReadOnly
                        | ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                ) =>
            {
                StoreError::Unavailable(format!("sqlite: {e}"))
            }
            _ => StoreError::Internal(format!("sqlite: {e}")),
        }
    }
}
