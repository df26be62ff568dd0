use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn load_with(
    file: Option<&str>,
    vars: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> Result<Settings, SettingsError> {
    let tmp = file.map(|text| {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    });
    Settings::load(LoadOptions {
        config_file: tmp.as_ref().map(|f| f.path().to_path_buf()),
        overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        env: env(vars),
    })
}

#[test]
fn defaults_are_valid_and_embedded() {
    let s = load_with(None, &[], &[]).unwrap();
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.default_provider, "openai");
    assert!(s.redis.url.is_none());
    assert!(matches!(
        s.database_kind().unwrap(),
        DatabaseKind::Sqlite(_)
    ));
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let file = "[server]\nport = 9000\nhost = \"0.0.0.0\"\n[redis]\nkey_prefix = \"from-file\"\n";
    let s = load_with(Some(file), &[], &[]).unwrap();
    assert_eq!(s.server.port, 9000);
    assert_eq!(s.server.host, "0.0.0.0");

    let s = load_with(Some(file), &[("LLM_PROXY_SERVER__PORT", "9100")], &[]).unwrap();
    assert_eq!(s.server.port, 9100);
    assert_eq!(s.redis.key_prefix, "from-file");

    let s = load_with(
        Some(file),
        &[("LLM_PROXY_SERVER__PORT", "9100")],
        &[("server.port", "9200")],
    )
    .unwrap();
    assert_eq!(s.server.port, 9200);
}

#[test]
fn top_level_and_nested_env_keys() {
    let s = load_with(
        None,
        &[
            ("LLM_PROXY_MANAGEMENT_TOKEN", "0123456789abcdef0123"),
            ("LLM_PROXY_DATABASE__URL", "postgres://localhost/x"),
            ("LLM_PROXY_REDIS__URL", "redis://127.0.0.1:6379"),
            ("LLM_PROXY_DATA_DIR", "/tmp/somewhere"),
            (
                "LLM_PROXY_PROVIDERS__OPENAI__BASE_URL",
                "http://127.0.0.1:1234",
            ),
            ("LLM_PROXY_CONFIG", ""),
            ("LLM_PROXY_MANAGEMENT_URL", "http://x"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        s.management_token.as_ref().unwrap().expose(),
        "0123456789abcdef0123"
    );
    assert_eq!(
        s.database_kind().unwrap(),
        DatabaseKind::Postgres("postgres://localhost/x".into())
    );
    assert!(s.redis.url.is_some());
    assert_eq!(s.data_dir, std::path::PathBuf::from("/tmp/somewhere"));
    assert_eq!(s.providers["openai"].base_url, "http://127.0.0.1:1234");
    // Setting one field of a default provider keeps its other defaults.
    assert!(!s.providers["openai"].allowed_endpoints.is_empty());
    assert!(s.providers.contains_key("anthropic"));
}

#[test]
fn unknown_keys_are_named() {
    let err = load_with(Some("[server]\nprot = 1\n"), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("prot"), "{err}");
    let err = load_with(None, &[("LLM_PROXY_SERVR__PORT", "1")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("servr"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let err = load_with(None, &[("LLM_PROXY_SERVER__PORT", "eighty")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("port"), "{err}");
    let err = load_with(None, &[("LLM_PROXY_DATABASE__URL", "mysql://x")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("database.url"), "{err}");
    let err = load_with(None, &[("LLM_PROXY_ENCRYPTION_KEY", "short")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("encryption_key"), "{err}");
    let err = load_with(
        None,
        &[("LLM_PROXY_PROVIDERS__OPENAI__BASE_URL", "ftp://x")],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("providers.openai.base_url"), "{err}");
    let err = load_with(None, &[("LLM_PROXY_DEFAULT_PROVIDER", "nope")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("default_provider"), "{err}");
}

#[test]
fn corrupt_file_names_the_file() {
    let err = load_with(Some("[server\nport = "), &[], &[]).unwrap_err();
    assert!(matches!(err, SettingsError::File { .. }), "{err}");
    let err = Settings::load(LoadOptions {
        config_file: Some("/nonexistent/llm-proxy.toml".into()),
        ..LoadOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/llm-proxy.toml"), "{err}");
}

#[test]
fn secrets_never_show_in_debug() {
    let s = load_with(
        None,
        &[
            ("LLM_PROXY_MANAGEMENT_TOKEN", "supersecretmanagementtoken"),
            (
                "LLM_PROXY_DATABASE__URL",
                "postgres://user:hunter2@localhost/x",
            ),
        ],
        &[],
    )
    .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("supersecretmanagementtoken"));
    assert!(!debug.contains("hunter2"));
}

#[test]
fn providers_can_be_added_from_a_file() {
    let file = r#"
[providers.vllm]
base_url = "http://127.0.0.1:8000"
allowed_endpoints = ["/v1/chat/completions"]
allowed_models = ["llama-*"]
"#;
    let s = load_with(Some(file), &[], &[]).unwrap();
    let vllm = &s.providers["vllm"];
    assert_eq!(vllm.allowed_models, vec!["llama-*".to_string()]);
    assert_eq!(vllm.auth, AuthStyle::Bearer);
    assert!(s.providers.contains_key("openai"));
}

#[test]
fn pool_idle_time_is_per_provider() {
    let file = r#"
[providers.vllm]
base_url = "http://127.0.0.1:8000"
"#;
    let s = load_with(
        Some(file),
        &[(
            "LLM_PROXY_PROVIDERS__ANTHROPIC__POOL_IDLE_TIMEOUT_MS",
            "1500",
        )],
        &[],
    )
    .unwrap();
    assert_eq!(
        s.providers["vllm"].pool_idle_timeout_ms,
        providers::DEFAULT_POOL_IDLE_MS
    );
    assert_eq!(s.providers["openai"].pool_idle_timeout_ms, 30_000);
    assert_eq!(s.providers["anthropic"].pool_idle_timeout_ms, 1_500);
}
