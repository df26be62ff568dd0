//! A test database that is dropped even when the test panics: explicitly (async) on the
//! normal path, from `Drop` on a thread with a runtime of its own otherwise, so failed runs do
//! not pile up `llmp_test_*` databases.

use llm_proxy_testkit::db::TestDatabase;

pub struct DatabaseGuard(Option<TestDatabase>);

impl DatabaseGuard {
    /// A fresh, unmigrated database.
    pub async fn create() -> Self {
        let db = TestDatabase::create_unmigrated()
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        Self(Some(db))
    }

    /// `postgres://…/llmp_test_<uuid>`.
    pub fn url(&self) -> &str {
        self.0.as_ref().map_or("", TestDatabase::url)
    }

    pub async fn drop_db(mut self) {
        if let Some(db) = self.0.take() {
            db.drop_db().await;
        }
    }
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        let Some(db) = self.0.take() else {
            return;
        };
        // The test's own runtime may be unwinding; this one is ours alone.
        let dropped =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(db.drop_db()),
                    Err(e) => eprintln!("cannot drop test database {}: {e}", db.name()),
                }
            })
            .join();
        if dropped.is_err() {
            eprintln!("dropping the test database panicked");
        }
    }
}
