//! Bad configuration, unreachable databases and wrong keys stop start-up with one clear line
//! and a non-zero exit code, never a panic.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn llm_proxy(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llm-proxy"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("LLM_PROXY_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "error");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run llm-proxy")
}

/// The error is the last stderr line, prefixed, and nothing panicked.
fn assert_clean_failure(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("llm-proxy: error: "), "last line: {last}");
    assert!(last.contains(needle), "expected `{needle}` in: {last}");
}

#[test]
fn corrupt_config_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server\nport = ").unwrap();
    let output = llm_proxy(&["migrate", "--config", path.to_str().unwrap()], &[]);
    assert_clean_failure(&output, "bad.toml");
}

#[test]
fn unknown_environment_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = llm_proxy(
        &["migrate"],
        &[
            ("LLM_PROXY_DATA_DIR", dir.path().to_str().unwrap()),
            ("LLM_PROXY_SERVER__PROT", "1"),
        ],
    );
    assert_clean_failure(&output, "prot");
}

#[test]
fn bad_value_is_named() {
    let output = llm_proxy(&["migrate"], &[("LLM_PROXY_SERVER__PORT", "eighty")]);
    assert_clean_failure(&output, "port");
}

#[test]
fn unreachable_database_is_one_line() {
    let output = llm_proxy(
        &["migrate"],
        &[(
            "LLM_PROXY_DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/nowhere",
        )],
    );
    assert_clean_failure(&output, "127.0.0.1");
}

#[test]
fn malformed_encryption_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = llm_proxy(
        &["migrate"],
        &[
            ("LLM_PROXY_DATA_DIR", dir.path().to_str().unwrap()),
            ("LLM_PROXY_ENCRYPTION_KEY", "not-a-key"),
        ],
    );
    assert_clean_failure(&output, "encryption_key");
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = llm_proxy(
        &["migrate", "--data-dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("llm-proxy.sqlite").exists());
}

#[test]
fn wrong_encryption_key_stops_start_up() {
    use llm_proxy_platform::{Cipher, EncryptionKey, LoadOptions, Settings};
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let right = EncryptionKey::generate();
    let wrong = EncryptionKey::generate();

    // Store a provider key under the right key, through the real store.
    actix_rt::System::new().block_on(async {
        let settings = Settings::load(LoadOptions {
            env: Some([("LLM_PROXY_DATA_DIR".to_owned(), data_dir.clone())].into()),
            ..LoadOptions::default()
        })
        .unwrap();
        llm_proxy_store::migrate(&settings).await.unwrap();
        let store = llm_proxy_store::open(&settings, Cipher::new(&right))
            .await
            .unwrap();
        let project = llm_proxy_core::project::NewProject {
            name: "keyed".into(),
            provider_keys: [(
                "openai".to_owned(),
                llm_proxy_core::SecretString::new("sk-test-0123456789abcdef"),
            )]
            .into(),
            rate_limit_rpm: None,
        };
        store
            .create_project(
                project,
                &llm_proxy_core::audit::AuditContext::system("test"),
            )
            .await
            .unwrap();
    });

    let output = llm_proxy(
        &["up", "--port", "0"],
        &[
            ("LLM_PROXY_DATA_DIR", &data_dir),
            ("LLM_PROXY_ENCRYPTION_KEY", &wrong.to_base64()),
        ],
    );
    assert_clean_failure(&output, "LLM_PROXY_ENCRYPTION_KEY");
}
