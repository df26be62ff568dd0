//! `llm-proxy usage` against a live admin node (a child process with its own SQLite data
//! directory) whose usage ledger the test seeded through the store.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DurationRound, TimeDelta, Utc};
use common::{fails_with, ok, ok_json, Node};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::project::NewProject;
use llm_proxy_platform::{Cipher, EncryptionKey, LoadOptions, Settings};
use llm_proxy_store::UsageRecord;
use uuid::Uuid;

/// A project `spend` with three calls today and one three days ago; returns its id.
fn seed(data_dir: &std::path::Path, key: &EncryptionKey) -> Uuid {
    actix_rt::System::new().block_on(async {
        let settings = Settings::load(LoadOptions {
            env: Some(
                [(
                    "LLM_PROXY_DATA_DIR".to_owned(),
                    data_dir.display().to_string(),
                )]
                .into(),
            ),
            ..LoadOptions::default()
        })
        .unwrap();
        llm_proxy_store::migrate(&settings).await.unwrap();
        let store = llm_proxy_store::open(&settings, Cipher::new(key))
            .await
            .unwrap();
        let project = store
            .create_project(
                NewProject {
                    name: "spend".into(),
                    ..NewProject::default()
                },
                &AuditContext::system("test"),
            )
            .await
            .unwrap();
        let today = Utc::now().duration_trunc(TimeDelta::days(1)).unwrap();
        let record = |model: &str, at, cost| UsageRecord {
            event_id: Uuid::now_v7(),
            occurred_at: at,
            project_id: project.id,
            token_id: None,
            provider: "openai".into(),
            model: Some(model.into()),
            is_error: false,
            prompt_tokens: 100,
            completion_tokens: 10,
            cached_tokens: 0,
            cost_nano_usd: cost,
        };
        store
            .record_usage(&[
                record("gpt-4o", today, 500_000_000),
                record("gpt-4o", today, 500_000_000),
                record("gpt-4o-mini", today, 1_000_000),
                record("gpt-4o-mini", today - TimeDelta::days(3), 1_000_000),
            ])
            .await
            .unwrap();
        project.id
    })
}

#[test]
fn usage_prints_a_daily_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate();
    let pid = seed(dir.path(), &key);
    let node = Node::start(
        "admin",
        dir.path(),
        &[("LLM_PROXY_ENCRYPTION_KEY", key.to_base64())],
    );

    let table = ok(&node.cli(&["usage", "--project", "spend", "--since", "7d"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "DAY",
            "REQUESTS",
            "ERRORS",
            "PROMPT",
            "COMPLETION",
            "TOKENS",
            "COST"
        ],
        "{table}"
    );
    assert_eq!(lines.len(), 1 + 2 + 1 + 1 + 1 + 2, "{table}");
    let total: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        total,
        ["total", "4", "0", "400", "40", "440", "$1.00"],
        "{table}"
    );
    assert!(table.contains("gpt-4o-mini"), "{table}");

    let json = ok_json(&node.cli(&[
        "usage",
        "--project",
        &pid.to_string(),
        "--since",
        "2d",
        "--group-by",
        "hour",
        "--json",
    ]));
    assert_eq!(json["group_by"], "hour");
    assert_eq!(json["totals"]["requests"], 3);
    assert_eq!(json["series"].as_array().unwrap().len(), 1);

    let by_model = ok_json(&node.cli(&[
        "usage",
        "--model",
        "gpt-4o-mini",
        "--since",
        "30d",
        "--json",
    ]));
    assert_eq!(by_model["totals"]["requests"], 2);

    fails_with(
        &node.cli(&["usage", "--project", "nope"]),
        "no project named `nope`",
    );
    fails_with(&node.cli(&["usage", "--since", "yesterday"]), "since");
}
