//! The management CLI against a live admin node (`llm-proxy admin`, a child process on a free
//! port with its own SQLite data directory): every `project`, `token` and `audit` command with
//! `--json` (asserted on the parsed JSON) and as human tables, plus one bad input per command
//! family (non-zero exit, one line).

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::{fails_with, ok, ok_json, Node};
use llm_proxy_core::audit::AuditContext;
use llm_proxy_core::project::NewProject;
use llm_proxy_core::token::NewToken;
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_platform::{Cipher, EncryptionKey, LoadOptions, Settings};
use serde_json::Value;
use uuid::Uuid;

const UNKNOWN_ID: &str = "0190a4c2-0000-7000-8000-000000000000";

fn admin(data_dir: &std::path::Path) -> Node {
    Node::start("admin", data_dir, &[])
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[test]
fn project_commands() {
    let dir = tempfile::tempdir().unwrap();
    let node = admin(dir.path());

    let created = ok_json(&node.cli(&[
        "project",
        "create",
        "alpha",
        "--api-key",
        "sk-proj-cli-test-key-00001234",
        "--json",
    ]));
    assert_eq!(created["name"], "alpha");
    assert_eq!(created["is_active"], true);
    assert!(!created
        .to_string()
        .contains("sk-proj-cli-test-key-00001234"));
    let pid = id(&created);

    let human = ok(&node.cli(&["project", "create", "beta", "--rate-limit-rpm", "60"]));
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("name") && l.ends_with("beta")),
        "{human}"
    );
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("rate_limit_rpm") && l.ends_with("60")),
        "{human}"
    );

    let list = ok_json(&node.cli(&["project", "list", "--json"]));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alpha") && names.contains(&"beta"));
    let table = ok(&node.cli(&["project", "list"]));
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "STATUS", "PROVIDERS", "CREATED"]
    );
    let alpha = table.lines().find(|l| l.contains(&pid)).unwrap();
    assert!(
        alpha.contains("alpha") && alpha.contains("active") && alpha.contains("openai"),
        "{alpha}"
    );

    let got = ok_json(&node.cli(&["project", "get", &pid, "--json"]));
    assert_eq!(got["id"], created["id"]);
    assert!(got["providers"]["openai"]["key_hint"]
        .as_str()
        .unwrap()
        .ends_with("1234"));

    let updated = ok_json(&node.cli(&["project", "update", &pid, "--name", "alpha-2", "--json"]));
    assert_eq!(updated["name"], "alpha-2");
    let human = ok(&node.cli(&["project", "update", &pid, "--rate-limit-rpm", "30"]));
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("name") && l.ends_with("alpha-2")),
        "{human}"
    );

    let token = ok_json(&node.cli(&["token", "create", "--project", &pid, "--json"]));
    let deactivated = ok_json(&node.cli(&["project", "deactivate", &pid, "--json"]));
    assert_eq!(deactivated["is_active"], false);
    let token = ok_json(&node.cli(&["token", "get", &id(&token), "--json"]));
    assert_eq!(token["is_active"], false, "deactivate revokes the tokens");
    let inactive = ok_json(&node.cli(&["project", "list", "--active", "false", "--json"]));
    assert_eq!(inactive.as_array().unwrap().len(), 1);

    fails_with(&node.cli(&["project", "get", UNKNOWN_ID]), "404");
    fails_with(&node.cli(&["project", "create", "beta"]), "409");
    fails_with(&node.cli(&["project", "update", &pid]), "nothing to update");
}

#[test]
fn token_commands() {
    let dir = tempfile::tempdir().unwrap();
    let node = admin(dir.path());
    let pid = id(&ok_json(
        &node.cli(&["project", "create", "tokens", "--json"]),
    ));

    let created = ok_json(&node.cli(&[
        "token",
        "create",
        "--project",
        &pid,
        "--duration-minutes",
        "60",
        "--max-requests",
        "5",
        "--json",
    ]));
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with("wt_"));
    assert_eq!(created["max_requests"], 5);
    let tid = id(&created);

    let human = ok(&node.cli(&["token", "create", "--project", &pid]));
    assert!(human.contains("shown only now"), "{human}");
    assert!(human.lines().any(|l| l.starts_with("wt_")), "{human}");

    let list = ok_json(&node.cli(&["token", "list", "--project", &pid, "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(secret), "list shows no secret");
    let table = ok(&node.cli(&["token", "list"]));
    assert_eq!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ID", "PROJECT", "TOKEN", "STATUS", "EXPIRES", "REQUESTS", "LAST", "USED"]
    );
    let row = table.lines().find(|l| l.contains(&tid)).unwrap();
    assert!(row.contains("active") && row.contains(&pid), "{row}");

    let got = ok_json(&node.cli(&["token", "get", &tid, "--json"]));
    assert_eq!(got["id"], created["id"]);
    assert_eq!(got["request_count"], 0);
    let human = ok(&node.cli(&["token", "get", &tid]));
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("requests") && l.ends_with("0 / 5")),
        "{human}"
    );

    let revoked = ok_json(&node.cli(&["token", "revoke", &tid, "--json"]));
    assert_eq!(revoked["is_active"], false);
    let bulk = ok_json(&node.cli(&["token", "revoke", "--project", &pid, "--json"]));
    assert_eq!(bulk["revoked_count"], 1);
    let active = ok_json(&node.cli(&["token", "list", "--active", "true", "--json"]));
    assert!(active.as_array().unwrap().is_empty());

    fails_with(&node.cli(&["token", "get", UNKNOWN_ID]), "404");
    fails_with(&node.cli(&["token", "revoke", "../etc"]), "not an id");
    fails_with(
        &node.cli(&[
            "token",
            "create",
            "--project",
            &pid,
            "--duration-minutes",
            "0",
        ]),
        "duration_minutes",
    );
}

/// A project with a token that expired 40 days ago, written through the real store before the
/// node starts (the API cannot create expired tokens).
fn seed_long_dead_token(data_dir: &std::path::Path, key: &EncryptionKey) -> Uuid {
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
        let ctx = AuditContext::system("test");
        let project = store
            .create_project(
                NewProject {
                    name: "old".into(),
                    provider_keys: Default::default(),
                    rate_limit_rpm: None,
                },
                &ctx,
            )
            .await
            .unwrap();
        let secret = TokenSecret::generate();
        store
            .create_token(
                NewToken {
                    project_id: project.id,
                    token_hash: secret.hash(),
                    obfuscated: secret.obfuscated(),
                    expires_at: Some(Utc::now() - TimeDelta::days(40)),
                    max_requests: None,
                    rate_limit_rpm: None,
                },
                &ctx,
            )
            .await
            .unwrap()
            .id
    })
}

#[test]
fn token_prune_counts_confirms_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate();
    let dead = seed_long_dead_token(dir.path(), &key);
    let node = Node::start(
        "admin",
        dir.path(),
        &[("LLM_PROXY_ENCRYPTION_KEY", key.to_base64())],
    );
    let cutoff = (Utc::now() - TimeDelta::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let live = id(&ok_json(&node.cli(&[
        "token",
        "create",
        "--project",
        &id(&ok_json(&node.cli(&["project", "create", "new", "--json"]))),
        "--json",
    ])));

    // Not a terminal and no --yes: the count, then a refusal; nothing deleted.
    let refused = node.cli(&["token", "prune", "--expired-before", &cutoff]);
    assert!(common::stdout(&refused).contains("1 token(s) expired or were deactivated before"));
    fails_with(&refused, "--yes");
    ok(&node.cli(&["token", "get", &dead.to_string()]));

    let human = ok(&node.cli(&["token", "prune", "--expired-before", &cutoff, "--yes"]));
    assert!(human.contains("deleted 1 token(s)"), "{human}");
    fails_with(&node.cli(&["token", "get", &dead.to_string()]), "404");
    ok(&node.cli(&["token", "get", &live]));

    let again = ok_json(&node.cli(&[
        "token",
        "prune",
        "--expired-before",
        &cutoff,
        "--yes",
        "--json",
    ]));
    assert_eq!(again["deleted"], 0);

    let audit = ok_json(&node.cli(&["audit", "list", "--action", "token.prune", "--json"]));
    let rows = audit["events"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    assert_eq!(rows[0]["metadata"]["tokens_deleted"], 1);

    fails_with(
        &node.cli(&["token", "prune", "--expired-before", "last month", "--yes"]),
        "--expired-before wants a YYYY-MM-DD date",
    );
    let tomorrow = (Utc::now() + TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    fails_with(
        &node.cli(&["token", "prune", "--expired-before", &tomorrow, "--yes"]),
        "400 invalid_request (expired_before)",
    );
}

#[test]
fn audit_list_command() {
    let dir = tempfile::tempdir().unwrap();
    let node = admin(dir.path());
    let pid = id(&ok_json(
        &node.cli(&["project", "create", "audited", "--json"]),
    ));
    let tid = id(&ok_json(&node.cli(&[
        "token",
        "create",
        "--project",
        &pid,
        "--json",
    ])));
    ok(&node.cli(&["token", "revoke", &tid]));

    let page = ok_json(&node.cli(&["audit", "list", "--json"]));
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create", "project.create"]);
    let revoke = &page["events"][0];
    assert_eq!(revoke["project_id"], pid.as_str());
    assert_eq!(revoke["token_id"], tid.as_str());

    let filtered = ok_json(&node.cli(&[
        "audit",
        "list",
        "--project",
        &pid,
        "--action",
        "token.create",
        "--json",
    ]));
    assert_eq!(filtered["events"].as_array().unwrap().len(), 1);
    let paged = ok(&node.cli(&["audit", "list", "--limit", "2"]));
    let mut lines = paged.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["WHEN", "ACTION", "OUTCOME", "ACTOR", "PROJECT", "TOKEN", "ID"]
    );
    let first = lines.next().unwrap();
    assert!(
        first.contains("token.revoke") && first.contains("success") && first.contains(&tid),
        "{first}"
    );
    assert!(paged.contains("… more: --offset 2"), "{paged}");

    fails_with(&node.cli(&["audit", "list", "--since", "whenever"]), "400");
    let wrong = common::llm_proxy()
        .args([
            "audit",
            "list",
            "--url",
            &node.base,
            "--token",
            "not-the-management-token",
        ])
        .output()
        .unwrap();
    fails_with(&wrong, "401");
}
