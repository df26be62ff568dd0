//! Fresh Postgres databases and SQLite files per test, so tests run in parallel without seeing
//! each other's rows.
//!
//! ```ignore
//! let db = TestDatabase::create().await;
//! let store = db.store(cipher).await;
//! // ... test ...
//! db.drop_db().await; // async work in Drop never runs: tear down explicitly
//! ```

use std::path::{Path, PathBuf};

use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, Settings};
use llm_proxy_store::{PostgresStore, SqliteStore, StoreError};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// Where test databases are created; trust auth is assumed.
pub const TEST_DATABASE_URL_VAR: &str = "LLM_PROXY_TEST_DATABASE_URL";
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every test database's name starts with this.
pub const TEST_DATABASE_PREFIX: &str = "llmp_test_";

/// The server URL tests use (`LLM_PROXY_TEST_DATABASE_URL` or the local default).
pub fn test_database_url() -> String {
    std::env::var(TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `url` with its database name replaced (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

/// A migrated Postgres database of its own (`llmp_test_<uuid>`), dropped by [`Self::drop_db`].
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates and migrates a fresh database. Panics with a clear message when the server is
    /// unreachable (a test cannot go on without it).
    pub async fn create() -> Self {
        match Self::try_create().await {
            Ok(db) => db,
            Err(e) => panic!(
                "cannot create a test database on {} (set {TEST_DATABASE_URL_VAR}): {e}",
                describe(&test_database_url())
            ),
        }
    }

    pub async fn try_create() -> Result<Self, StoreError> {
        let db = Self::create_unmigrated().await?;
        llm_proxy_store::migrate_postgres(&db.url).await?;
        Ok(db)
    }

    /// A fresh, empty database (no schema): for migration tests.
    pub async fn create_unmigrated() -> Result<Self, StoreError> {
        let server_url = test_database_url();
        let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        let client = connect(&server_url).await?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| StoreError::Unavailable(format!("CREATE DATABASE {name}: {e}")))?;
        let url = with_database(&server_url, &name);
        Ok(Self {
            name,
            url,
            server_url,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://…/llmp_test_<uuid>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Default settings pointing `database.url` at this database.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::default();
        settings.database.url = SecretString::new(self.url.clone());
        settings.database.max_connections = 4;
        settings
    }

    /// A store on this database.
    pub async fn store(&self, cipher: Cipher) -> PostgresStore {
        match PostgresStore::connect(&self.url, 4, cipher).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open the test database {}: {e}", self.name),
        }
    }

    /// A plain connection, for tests that read raw rows.
    pub async fn client(&self) -> tokio_postgres::Client {
        match connect(&self.url).await {
            Ok(client) => client,
            Err(e) => panic!("cannot connect to the test database {}: {e}", self.name),
        }
    }

    /// Drops the database, closing any connection still open to it. Call it at the end of the
    /// test; a test that panics before leaves its database behind (named `llmp_test_*`).
    pub async fn drop_db(self) {
        let result = async {
            let client = connect(&self.server_url).await?;
            client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        }
        .await;
        if let Err(e) = result {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", describe(url))))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The URL without a password.
fn describe(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A migrated SQLite file in a temporary directory removed on drop.
#[derive(Debug)]
pub struct TestSqlite {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestSqlite {
    pub async fn create() -> Self {
        let db = Self::create_unmigrated();
        if let Err(e) = llm_proxy_store::migrate_sqlite(&db.path).await {
            panic!(
                "cannot migrate the test sqlite file {}: {e}",
                db.path.display()
            );
        }
        db
    }

    /// A path in a fresh temporary directory; the file does not exist yet.
    pub fn create_unmigrated() -> Self {
        let dir = match tempfile::Builder::new().prefix("llmp_test_").tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        let path = dir.path().join("llm-proxy.sqlite");
        Self { dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary directory (usable as `data_dir`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sqlite:/tmp/…/llm-proxy.sqlite`.
    pub fn url(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    /// Default settings with `data_dir` and `database.url` in the temporary directory.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings {
            data_dir: self.dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.database.url = SecretString::new(self.url());
        settings
    }

    pub async fn store(&self, cipher: Cipher) -> SqliteStore {
        match SqliteStore::open(&self.path, cipher).await {
            Ok(store) => store,
            Err(e) => panic!(
                "cannot open the test sqlite file {}: {e}",
                self.path.display()
            ),
        }
    }

    /// Removes the directory now (it is also removed on drop).
    pub fn remove(self) {
        let _ = self.dir.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(describe("postgres://u:secret@h/db"), "postgres://u@h/db");
    }
}
