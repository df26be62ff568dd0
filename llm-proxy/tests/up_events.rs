//! `llm-proxy up` delivers every proxied call through the in-process dispatcher: to the file
//! sink (on by default) and into the usage ledger that `GET /manage/usage` reads; SIGTERM
//! flushes what is still queued (proxy first, then the dispatcher).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ok, ok_json, Node, MANAGEMENT_TOKEN};
use llm_proxy_platform::{Cipher, EncryptionKey, LoadOptions, Settings};
use llm_proxy_store::UsageFilter;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use serde_json::{json, Value};

/// Distinct event ids in the file sink's JSONL files under `dir`.
fn file_sink_events(dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            ids.extend(file_sink_events(&path));
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let value: Value = serde_json::from_str(line).unwrap();
                if let Some(id) = value["_meta"]["event_id"].as_str() {
                    ids.insert(id.to_owned());
                }
            }
        }
    }
    ids
}

async fn chat(
    client: &awc::Client,
    base: &str,
    token: &str,
    body: Value,
    status: Option<&str>,
) -> u16 {
    let mut req = client
        .post(format!("{base}/v1/chat/completions"))
        .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(status) = status {
        req = req.insert_header(("x-fake-status", status));
    }
    let mut res = req.send_json(&body).await.unwrap();
    res.body().await.unwrap();
    res.status().as_u16()
}

async fn usage(client: &awc::Client, base: &str, project: &str) -> Value {
    let mut res = client
        .get(format!("{base}/manage/usage?project_id={project}"))
        .insert_header(("Authorization", format!("Bearer {MANAGEMENT_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[actix_web::test]
async fn up_delivers_events_to_the_file_sink_and_the_usage_ledger() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        "up",
        dir.path(),
        &[("LLM_PROXY_PROVIDERS__OPENAI__BASE_URL", upstream.base_url())],
    );
    let banner = node.log();
    assert!(
        banner.contains("the file sink is on because no [sinks.*] is enabled"),
        "{banner}"
    );
    assert!(
        banner.contains(&dir.path().join("events").display().to_string()),
        "{banner}"
    );

    let project = ok_json(&node.cli(&[
        "project",
        "create",
        "metered",
        "--api-key",
        "sk-proj-up-events-key-00005678",
        "--json",
    ]));
    let pid = project["id"].as_str().unwrap().to_owned();
    let token = ok_json(&node.cli(&["token", "create", "--project", &pid, "--json"]));
    let secret = token["token"].as_str().unwrap().to_owned();

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let ask = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let mut stream = ask.clone();
    stream["stream"] = json!(true);
    assert_eq!(
        chat(&client, &node.base, &secret, ask.clone(), None).await,
        200
    );
    assert_eq!(chat(&client, &node.base, &secret, stream, None).await, 200);
    assert_eq!(
        chat(&client, &node.base, &secret, ask.clone(), Some("500")).await,
        500
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let totals = loop {
        let answer = usage(&client, &node.base, &pid).await;
        if answer["totals"]["requests"] == 3 {
            break answer["totals"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "usage never reached 3 requests: {answer}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(totals["errors"], 1, "{totals}");
    assert_eq!(totals["prompt_tokens"], 18, "{totals}");
    assert_eq!(totals["completion_tokens"], 6, "{totals}");

    // The lines reach the file before the sink counts the batch delivered (after its fsync),
    // and the sink runs in the idle class: on a busy machine the counter comes a moment later.
    let events_dir = dir.path().join("events");
    let url = format!("{}/metrics/dispatcher", node.base);
    let delivered = |status: &Value, name: &str| {
        status["sinks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sink"] == name)
            .map(|s| s["delivered"].clone())
            .unwrap_or(Value::Null)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        // The in-process dispatcher's counters, through `dispatcher status`.
        let status = ok_json(&node_status(&url));
        if file_sink_events(&events_dir).len() >= 3 && delivered(&status, "file") == 3 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the file sink has {:?}; {status}",
            file_sink_events(&events_dir)
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(file_sink_events(&events_dir).len(), 3);
    assert_eq!(delivered(&status, "usage"), 3, "{status}");
    let table = ok(&common::llm_proxy()
        .args(["dispatcher", "status", "--metrics-url", &url])
        .output()
        .unwrap());
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("file") && l.split_whitespace().nth(2) == Some("3")),
        "{table}"
    );

    // A call answered just before SIGTERM still reaches both the file and the ledger.
    assert_eq!(chat(&client, &node.base, &secret, ask, None).await, 200);
    let exit = node.terminate();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(file_sink_events(&events_dir).len(), 4);
    let rows = ledger(dir.path()).await;
    assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 4, "{rows:?}");

    upstream.stop().await;
}

fn node_status(url: &str) -> std::process::Output {
    common::llm_proxy()
        .args(["dispatcher", "status", "--metrics-url", url, "--json"])
        .output()
        .unwrap()
}

/// The usage ledger read straight from the stopped node's SQLite store.
async fn ledger(data_dir: &Path) -> Vec<llm_proxy_store::UsageRow> {
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
    let (key, generated) = EncryptionKey::load_or_generate(data_dir).unwrap();
    assert!(!generated, "up keeps its key in the data directory");
    let store = llm_proxy_store::open(&settings, Cipher::new(&key))
        .await
        .unwrap();
    store.usage_summary(&UsageFilter::default()).await.unwrap()
}
