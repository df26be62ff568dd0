//! Two `llm-proxy migrate` processes started at once against one fresh Postgres database both
//! succeed, and the schema is migrated exactly once (the advisory lock serialises them).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use llm_proxy_testkit::db::TestDatabase;

#[actix_rt::test]
async fn two_processes_migrate_the_same_database_at_once() {
    let db = TestDatabase::create_unmigrated()
        .await
        .expect("create database");
    let spawn = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_llm-proxy"));
        for (key, _) in std::env::vars() {
            if key.starts_with("LLM_PROXY_") {
                command.env_remove(key);
            }
        }
        command
            .arg("migrate")
            .env("LLM_PROXY_DATABASE__URL", db.url())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn llm-proxy migrate")
    };
    let first = spawn();
    let second = spawn();
    for child in [first, second] {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let client = db.client().await;
    let applied: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("history table")
        .get(0);
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .expect("migrations dir")
    .count() as i64;
    assert_eq!(applied, files, "each migration applied exactly once");
    drop(client);
    db.drop_db().await;
}
