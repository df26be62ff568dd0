//! Migrations, opening, and the one-line errors a bad database gives.

#![allow(clippy::unwrap_used)]

use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, EncryptionKey, Settings};
use llm_proxy_store::StoreError;
use llm_proxy_testkit::db::{TestDatabase, TestSqlite};

fn cipher() -> Cipher {
    Cipher::new(&EncryptionKey::generate())
}

/// The versions of the migration files of one dialect (`V<n>__…sql`), ascending.
fn versions(dialect: &str) -> Vec<i32> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dialect);
    let mut versions: Vec<i32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}

mod postgres {
    use super::*;

    async fn applied(db: &TestDatabase) -> Vec<i32> {
        db.client()
            .await
            .query(
                "SELECT version FROM refinery_schema_history ORDER BY version",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    #[tokio::test]
    async fn concurrent_migrations_apply_once() {
        let db = TestDatabase::create_unmigrated().await.unwrap();
        let url = db.url().to_owned();
        // Separate tasks, each with its own connection (its own session for the lock).
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { llm_proxy_store::migrate_postgres(&url).await })
            })
            .collect();
        for run in runs {
            run.await.unwrap().unwrap();
        }
        assert_eq!(
            applied(&db).await,
            versions("postgres"),
            "each migration applied exactly once"
        );
        let store = llm_proxy_store::open(&db.settings(), cipher())
            .await
            .unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.backend(), "postgres");
        drop(store);
        db.drop_db().await;
    }

    #[tokio::test]
    async fn migrate_is_idempotent() {
        let db = TestDatabase::create().await;
        llm_proxy_store::migrate(&db.settings()).await.unwrap();
        llm_proxy_store::migrate(&db.settings()).await.unwrap();
        assert_eq!(applied(&db).await, versions("postgres"));
        db.drop_db().await;
    }

    #[tokio::test]
    async fn open_refuses_an_unmigrated_database() {
        let db = TestDatabase::create_unmigrated().await.unwrap();
        let err = llm_proxy_store::open(&db.settings(), cipher())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        let line = err.to_string();
        assert!(line.contains("llm-proxy migrate"), "{line}");
        assert!(line.contains(db.name()), "{line}");
        db.drop_db().await;
    }

    #[tokio::test]
    async fn unreachable_database_is_one_clear_line() {
        let mut settings = Settings::default();
        settings.database.url =
            SecretString::new("postgres://llmp:hunter2secret@127.0.0.1:1/llmp_nowhere");
        let err = llm_proxy_store::open(&settings, cipher())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let line = err.to_string();
        assert!(line.contains("127.0.0.1:1"), "{line}");
        assert!(line.contains("llmp_nowhere"), "{line}");
        assert!(!line.contains("hunter2secret"), "{line}");
        assert!(!line.contains('\n'), "{line}");

        let err = llm_proxy_store::migrate(&settings).await.unwrap_err();
        let line = err.to_string();
        assert!(line.contains("127.0.0.1:1"), "{line}");
        assert!(!line.contains("hunter2secret"), "{line}");
    }
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn migrate_creates_the_file_and_is_idempotent() {
        let db = TestSqlite::create_unmigrated();
        let mut settings = db.settings();
        // A relative path lands in the data directory, which is created when missing.
        settings.data_dir = db.dir().join("nested/data");
        settings.database.url = SecretString::new("sqlite:store.sqlite");
        llm_proxy_store::migrate(&settings).await.unwrap();
        llm_proxy_store::migrate(&settings).await.unwrap();
        assert!(db.dir().join("nested/data/store.sqlite").exists());
        let store = llm_proxy_store::open(&settings, cipher()).await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        let conn = rusqlite::Connection::open(db.dir().join("nested/data/store.sqlite")).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let applied: i64 = conn
            .query_row("SELECT COUNT(*) FROM refinery_schema_history", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(applied, versions("sqlite").len() as i64);
    }

    #[tokio::test]
    async fn concurrent_migrations_apply_once() {
        let db = TestSqlite::create_unmigrated();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let path = db.path().to_path_buf();
                tokio::spawn(async move { llm_proxy_store::migrate_sqlite(&path).await })
            })
            .collect();
        for run in runs {
            run.await.unwrap().unwrap();
        }
        db.store(cipher()).await;
    }

    #[tokio::test]
    async fn open_refuses_an_unmigrated_file() {
        let db = TestSqlite::create_unmigrated();
        let err = llm_proxy_store::open(&db.settings(), cipher())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        assert!(err.to_string().contains("llm-proxy migrate"), "{err}");
    }

    #[tokio::test]
    async fn unopenable_path_is_one_clear_line() {
        let db = TestSqlite::create_unmigrated();
        // A regular file where a directory should be.
        let blocker = db.dir().join("blocker");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let path = blocker.join("store.sqlite");
        let mut settings = db.settings();
        settings.database.url = SecretString::new(format!("sqlite:{}", path.display()));
        let err = llm_proxy_store::open(&settings, cipher())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let line = err.to_string();
        assert!(line.contains(&path.display().to_string()), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let err = llm_proxy_store::migrate(&settings).await.unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
    }
}

mod failing {
    use super::*;

    #[tokio::test]
    async fn postgres_failed_migration_is_one_clear_line() {
        let db = TestDatabase::create_unmigrated().await.unwrap();
        db.client()
            .await
            .batch_execute("CREATE TABLE projects (squatter INT)")
            .await
            .unwrap();
        let err = llm_proxy_store::migrate(&db.settings()).await.unwrap_err();
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        let line = err.to_string();
        assert!(line.contains("V1__init"), "{line}");
        assert!(line.contains("already exists"), "{line}");
        assert!(line.contains(db.name()), "{line}");
        assert!(!line.contains('\n'), "{line}");
        // The advisory lock was released: a later run is not blocked (and fails the same way).
        let again = llm_proxy_store::migrate(&db.settings()).await.unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        db.drop_db().await;
    }

    #[tokio::test]
    async fn sqlite_failed_migration_is_one_clear_line() {
        let db = TestSqlite::create_unmigrated();
        rusqlite::Connection::open(db.path())
            .unwrap()
            .execute_batch("CREATE TABLE projects (squatter INT)")
            .unwrap();
        let err = llm_proxy_store::migrate(&db.settings()).await.unwrap_err();
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        let line = err.to_string();
        assert!(line.contains("V1__init"), "{line}");
        assert!(line.contains("already exists"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
