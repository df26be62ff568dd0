//! `llm-proxy dispatcher` (the role, a child process on a free port) against the real Redis
//! under a unique key prefix: it delivers stream entries to the file sink; `dispatcher status`
//! reports them from Redis and the node's `/metrics`; `dispatcher replay` re-delivers.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{fails_with, ok, ok_json, Node};
use llm_proxy_platform::redis::{connection_manager, publish_events, KeySpace};
use llm_proxy_testkit::fake_sinks::sample_event;
use llm_proxy_testkit::redis_prefix::RedisPrefix;

fn env(redis: &RedisPrefix) -> Vec<(&'static str, String)> {
    vec![
        ("LLM_PROXY_REDIS__URL", redis.url().to_owned()),
        ("LLM_PROXY_REDIS__KEY_PREFIX", redis.prefix().to_owned()),
        ("LLM_PROXY_SINKS__FILE__ENABLED", "true".to_owned()),
        ("LLM_PROXY_SINKS__FILE__LAYOUT", "daily".to_owned()),
        ("LLM_PROXY_DISPATCHER__BLOCK_MS", "200".to_owned()),
    ]
}

/// `llm-proxy dispatcher <args>` with the node's settings.
fn dispatcher(node: &Node, redis: &RedisPrefix, args: &[&str]) -> Output {
    let mut command = common::llm_proxy();
    command
        .arg("dispatcher")
        .args(args)
        .env("LLM_PROXY_DATA_DIR", &node.data_dir)
        .env("LLM_PROXY_SERVER__PORT", node.port().to_string());
    for (key, value) in env(redis) {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn file_lines(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("events"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    std::fs::read_to_string(e.path())
                        .unwrap_or_default()
                        .lines()
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

#[actix_web::test]
async fn dispatcher_role_status_and_replay() {
    let redis = RedisPrefix::unique();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start("dispatcher", dir.path(), &env(&redis));

    let keys = KeySpace::new(redis.prefix(), 1, 10_000);
    let mut conn = connection_manager(redis.url(), Duration::from_secs(5))
        .await
        .unwrap();
    let events: Vec<_> = (0..5).map(|_| sample_event()).collect();
    publish_events(&mut conn, &keys, &events).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while file_lines(dir.path()) < 5 {
        assert!(Instant::now() < deadline, "not delivered: {}", node.log());
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }

    // Counters from the node's /metrics (the default URL), pending and lag from Redis.
    let deadline = Instant::now() + Duration::from_secs(20);
    let file = loop {
        let status = ok_json(&dispatcher(&node, &redis, &["status", "--json"]));
        let file = status["sinks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sink"] == "file")
            .unwrap()
            .clone();
        if file["pending"] == 0 && file["lag"] == 0 {
            assert_eq!(status["prefix"], redis.prefix());
            break file;
        }
        assert!(Instant::now() < deadline, "{status}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(file["enabled"], true);
    assert_eq!(file["delivered"], 5, "{file}");
    assert_eq!(file["consumers"], 1, "{file}");
    assert_eq!(file["dlq_length"], 0, "{file}");
    let table = ok(&dispatcher(&node, &redis, &["status"]));
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("file"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["file", "yes", "5", "0", "0", "0", "0", "0", "0", "1"],
        "{table}"
    );
    let loki = table.lines().find(|l| l.starts_with("loki")).unwrap();
    assert!(loki.contains("no group"), "{table}");

    // Backfill: the stream again, straight to the file sink.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let replayed = ok_json(&dispatcher(
        &node,
        &redis,
        &["replay", "--sink", "file", "--since", &today, "--json"],
    ));
    assert_eq!(replayed["read"], 5, "{replayed}");
    assert_eq!(replayed["delivered"], 5, "{replayed}");
    assert_eq!(file_lines(dir.path()), 10);
    let line = ok(&dispatcher(
        &node,
        &redis,
        &["replay", "--sink", "file", "--dlq"],
    ));
    assert!(line.contains("0 read, 0 delivered"), "{line}");

    fails_with(
        &dispatcher(&node, &redis, &["replay", "--sink", "nope", "--dlq"]),
        "unknown sink `nope`",
    );
    fails_with(
        &dispatcher(
            &node,
            &redis,
            &["replay", "--sink", "file", "--since", "soon"],
        ),
        "--since wants",
    );

    let exit = node.terminate();
    assert!(exit.success(), "{exit:?}");
    redis.cleanup().await.unwrap();
}
