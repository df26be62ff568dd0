//! A fresh store per test, raw access to what it wrote, and helpers to build fixtures.

use std::collections::BTreeMap;
use std::sync::Arc;

use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::project::{NewProject, Project};
use llm_proxy_core::token::{NewToken, Token};
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, EncryptionKey};
use llm_proxy_store::{DynStore, PostgresStore, SqliteStore};
use llm_proxy_testkit::db::{TestDatabase, TestSqlite};
use uuid::Uuid;

enum Db {
    Sqlite(TestSqlite),
    Postgres(TestDatabase),
}

pub struct Harness {
    pub store: DynStore,
    db: Db,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let db = TestSqlite::create().await;
        let store: DynStore = Arc::new(db.store(new_cipher()).await);
        Self {
            store,
            db: Db::Sqlite(db),
        }
    }

    pub async fn postgres() -> Self {
        let db = TestDatabase::create().await;
        let store: DynStore = Arc::new(db.store(new_cipher()).await);
        Self {
            store,
            db: Db::Postgres(db),
        }
    }

    /// Tears the database down, then re-raises the test's panic if it had one.
    pub async fn finish(self, outcome: std::thread::Result<()>) {
        self.teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    async fn teardown(self) {
        drop(self.store);
        match self.db {
            Db::Sqlite(db) => db.remove(),
            Db::Postgres(db) => db.drop_db().await,
        }
    }

    /// A second store on the same database with another cipher.
    pub async fn reopen(&self, cipher: Cipher) -> DynStore {
        match &self.db {
            Db::Sqlite(db) => Arc::new(SqliteStore::open(db.path(), cipher).await.unwrap()),
            Db::Postgres(db) => {
                Arc::new(PostgresStore::connect(db.url(), 2, cipher).await.unwrap())
            }
        }
    }

    /// Every stored byte of the provider-key table, read with a raw connection.
    pub async fn raw_provider_key_rows(&self) -> Vec<Vec<u8>> {
        match &self.db {
            Db::Sqlite(db) => {
                let conn = rusqlite::Connection::open(db.path()).unwrap();
                let mut stmt = conn
                    .prepare(
                        "SELECT project_id, provider, ciphertext, key_hint, updated_at \
                         FROM project_provider_keys",
                    )
                    .unwrap();
                stmt.query_map([], |r| {
                    let mut bytes = Vec::new();
                    for i in 0..5 {
                        match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Text(t) => bytes.extend_from_slice(t),
                            rusqlite::types::ValueRef::Blob(b) => bytes.extend_from_slice(b),
                            other => bytes.extend_from_slice(format!("{other:?}").as_bytes()),
                        }
                        bytes.push(b'|');
                    }
                    Ok(bytes)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            Db::Postgres(db) => {
                let client = db.client().await;
                client
                    .query(
                        "SELECT ciphertext, convert_to(row_to_json(t)::text, 'UTF8') \
                         FROM project_provider_keys t",
                        &[],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let mut bytes: Vec<u8> = r.get(0);
                        bytes.extend_from_slice(&r.get::<_, Vec<u8>>(1));
                        bytes
                    })
                    .collect()
            }
        }
    }

    /// Everything the database holds, as bytes: the SQLite file and its WAL, or every row of
    /// every table in the Postgres schema as text.
    pub async fn raw_everything(&self) -> Vec<u8> {
        match &self.db {
            Db::Sqlite(db) => {
                let mut bytes = std::fs::read(db.path()).unwrap();
                let wal = db.path().with_extension("sqlite-wal");
                if let Ok(more) = std::fs::read(wal) {
                    bytes.extend(more);
                }
                bytes
            }
            Db::Postgres(db) => {
                let client = db.client().await;
                let tables: Vec<String> = client
                    .query(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut bytes = Vec::new();
                for table in tables {
                    for row in client
                        .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                        .await
                        .unwrap()
                    {
                        bytes.extend_from_slice(row.get::<_, String>(0).as_bytes());
                    }
                }
                bytes
            }
        }
    }

    pub async fn project(&self, name: &str) -> Project {
        self.store
            .create_project(new_project(name), &ctx())
            .await
            .unwrap()
    }

    pub async fn token(&self, project_id: Uuid) -> Token {
        self.store
            .create_token(new_token(project_id), &ctx())
            .await
            .unwrap()
    }
}

pub fn new_cipher() -> Cipher {
    Cipher::new(&EncryptionKey::generate())
}

pub fn ctx() -> AuditContext {
    AuditContext {
        actor: "tester".to_owned(),
        request_id: Some(format!("req-{}", Uuid::new_v4().simple())),
        client_ip: Some("192.0.2.7".to_owned()),
    }
}

pub fn new_project(name: &str) -> NewProject {
    NewProject {
        name: name.to_owned(),
        provider_keys: BTreeMap::new(),
        rate_limit_rpm: None,
    }
}

pub fn new_project_with_key(name: &str, provider: &str, key: &str) -> NewProject {
    let mut keys = BTreeMap::new();
    keys.insert(provider.to_owned(), SecretString::new(key));
    NewProject {
        name: name.to_owned(),
        provider_keys: keys,
        rate_limit_rpm: Some(60),
    }
}

/// A token with a random 64-hex-char hash.
pub fn new_token(project_id: Uuid) -> NewToken {
    NewToken {
        project_id,
        token_hash: random_hash(),
        obfuscated: "wt_abcd...wxyz".to_owned(),
        expires_at: None,
        max_requests: None,
        rate_limit_rpm: None,
    }
}

pub fn random_hash() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

pub async fn ping_and_backend(h: &Harness) {
    h.store.ping().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&h.store.backend()));
}
