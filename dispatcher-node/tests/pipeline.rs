//! End to end over the shared Redis (own key prefix): stream → dispatcher → the four sinks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use dispatcher_node::{replay, status, Application, ReplayFrom};
use llm_proxy_platform::redis::KeySpace;
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_testkit::fake_sinks::{FakeMode, FakeSink};
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn jsonl_lines(dir: &std::path::Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "jsonl") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    out.push(serde_json::from_str(line).unwrap());
                }
            }
        }
    }
    out
}

/// The `id` of every event in the lines Loki was sent.
fn loki_ids(loki: &FakeSink) -> Vec<String> {
    loki.loki_entries()
        .iter()
        .map(|(_, v)| {
            serde_json::from_str::<Value>(v[1].as_str().unwrap()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Every enabled sink has read and acknowledged everything.
async fn nothing_pending(s: &llm_proxy_platform::Settings) -> bool {
    let report = status(s).await.unwrap();
    report
        .sinks
        .iter()
        .filter(|x| x.enabled)
        .all(|x| x.pending == 0 && x.lag == Some(0))
}

#[actix_web::test]
async fn events_reach_all_four_sinks_with_the_right_fields() {
    let prefix = RedisPrefix::unique();
    let dir = tempfile::tempdir().unwrap();
    let (loki, lunary, helicone) = (
        FakeSink::loki().await,
        FakeSink::lunary().await,
        FakeSink::helicone().await,
    );
    loki.require_tenant("tenant-1");
    let mut s = settings(prefix.url(), prefix.prefix(), dir.path());
    enable_file(&mut s, FileLayout::Session);
    enable_loki(&mut s, loki.url());
    enable_lunary(&mut s, lunary.url());
    enable_helicone(&mut s, helicone.url());
    let s = Arc::new(s);
    let app = Application::build(s.clone()).await.unwrap();
    let port = app.port();
    let handle = app.server_handle();
    let running = actix_rt::spawn(app.run_until_stopped());

    let events = publish(&s, 12).await;
    let n = events.len();
    assert!(
        loki.wait_for(WAIT, |f| f.loki_entries().len() >= n).await,
        "loki"
    );
    assert!(
        lunary
            .wait_for(WAIT, |f| f.lunary_events().len() >= 2 * n)
            .await,
        "lunary"
    );
    assert!(
        helicone
            .wait_for(WAIT, |f| f.helicone_logs().len() >= n)
            .await,
        "helicone"
    );
    let events_dir = s.events_dir();
    assert!(
        eventually(WAIT, || async { jsonl_lines(&events_dir).len() >= 3 * n }).await,
        "file"
    );

    // Loki: gzip, JSON, tenant; low-cardinality labels; ids and tokens in the line.
    let push = &loki.accepted()[0];
    assert_eq!(push.header("content-encoding"), Some("gzip"));
    assert_eq!(push.header("x-scope-orgid"), Some("tenant-1"));
    let (labels, value) = &loki.loki_entries()[0];
    assert_eq!(labels["app"], "llm-proxy");
    assert_eq!(labels["provider"], "openai");
    assert_eq!(labels["status_bucket"], "2xx");
    assert!(labels.get("request_id").is_none() && labels.get("project_id").is_none());
    let line: Value = serde_json::from_str(value[1].as_str().unwrap()).unwrap();
    assert_eq!(line["usage"]["total_tokens"], 15);
    let loki_ids: HashSet<String> = loki_ids(&loki).into_iter().collect();
    for e in &events {
        assert!(loki_ids.contains(&e.id.to_string()));
    }

    // Lunary: {"events": [...]}, start then end per call, bearer key, tokensUsage.
    let ingest = &lunary.accepted()[0];
    assert!(ingest.body["events"].is_array(), "never a bare array");
    assert!(ingest
        .header("authorization")
        .unwrap()
        .starts_with("Bearer "));
    let runs = lunary.lunary_events();
    let first = events[0].id.to_string();
    let start = runs
        .iter()
        .find(|r| r["runId"] == first.as_str() && r["event"] == "start")
        .unwrap();
    let end = runs
        .iter()
        .find(|r| r["runId"] == first.as_str() && r["event"] == "end")
        .unwrap();
    assert_eq!(start["name"], "gpt-4o-mini");
    assert_eq!(start["input"][0]["content"], "hi");
    assert_eq!(end["tokensUsage"]["completion"], 5);
    assert!(start["timestamp"].as_str().unwrap() < end["timestamp"].as_str().unwrap());

    // Helicone: providerRequest/providerResponse/timing with the call's real duration.
    let log = helicone
        .helicone_logs()
        .into_iter()
        .find(|l| {
            l["providerRequest"]["meta"]["Helicone-Property-Request-Id"]
                == events[0].request_id.as_str()
        })
        .unwrap();
    assert_eq!(log["providerResponse"]["json"]["usage"]["total_tokens"], 15);
    let ms =
        |t: &Value| t["seconds"].as_i64().unwrap() * 1000 + t["milliseconds"].as_i64().unwrap();
    let took = ms(&log["timing"]["endTime"]) - ms(&log["timing"]["startTime"]);
    assert!((1249..=1251).contains(&took), "{took}");

    // File: prime-radiant session layout.
    let lines = jsonl_lines(&s.events_dir());
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "session_start").count(), n);
    assert_eq!(kinds.iter().filter(|k| **k == "request").count(), n);
    let req = lines.iter().find(|l| l["type"] == "request").unwrap();
    assert_eq!(req["_meta"]["machine"], "test-node");
    assert!(req["_meta"]["request_id"].is_string());
    for fake in [&loki, &lunary, &helicone] {
        assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
    }

    // Status and metrics agree: nothing pending, everything delivered.
    assert!(eventually(WAIT, || nothing_pending(&s)).await);
    let report = status(&s).await.unwrap();
    assert!(report.to_string().contains("loki"));
    let body = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(&format!(
            "llm_proxy_dispatcher_events_delivered_total{{sink=\"helicone\"}} {n}"
        )),
        "{text}"
    );
    let ready = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    handle.stop(true).await;
    running.await.unwrap().unwrap();
    for f in [loki, lunary, helicone] {
        f.stop().await;
    }
    prefix.cleanup().await.unwrap();
}

#[actix_web::test]
async fn a_failing_sink_catches_up_and_never_holds_up_the_others() {
    let prefix = RedisPrefix::unique();
    let dir = tempfile::tempdir().unwrap();
    let (loki, lunary) = (FakeSink::loki().await, FakeSink::lunary().await);
    loki.set_mode(FakeMode::Fail {
        status: 503,
        remaining: None,
    });
    let mut s = settings(prefix.url(), prefix.prefix(), dir.path());
    s.dispatcher.max_deliveries = 1000;
    enable_loki(&mut s, loki.url());
    enable_lunary(&mut s, lunary.url());
    let s = Arc::new(s);
    let app = Application::build(s.clone()).await.unwrap();
    let handle = app.server_handle();
    let running = actix_rt::spawn(app.run_until_stopped());

    let events = publish(&s, 10).await;
    assert!(
        lunary
            .wait_for(WAIT, |f| f.lunary_events().len() == 20)
            .await
    );
    assert!(
        loki.wait_for(WAIT, |f| f.requests() >= 3).await,
        "loki is being retried"
    );
    assert!(loki.loki_entries().is_empty());
    // More events while Loki is down still reach Lunary.
    publish(&s, 5).await;
    assert!(
        lunary
            .wait_for(WAIT, |f| f.lunary_events().len() == 30)
            .await
    );

    loki.recover();
    assert!(loki.wait_for(WAIT, |f| f.loki_entries().len() >= 15).await);
    let ids: HashSet<String> = loki_ids(&loki).into_iter().collect();
    assert_eq!(ids.len(), 15);
    assert!(events.iter().all(|e| ids.contains(&e.id.to_string())));
    let keys = KeySpace::from_settings(&s);
    assert_eq!(xlen(&s, &keys.dlq("loki")).await, 0);

    handle.stop(true).await;
    running.await.unwrap().unwrap();
    loki.stop().await;
    lunary.stop().await;
    prefix.cleanup().await.unwrap();
}

#[actix_web::test]
async fn permanent_rejections_go_to_the_dlq_and_replay_delivers_them() {
    let prefix = RedisPrefix::unique();
    let dir = tempfile::tempdir().unwrap();
    let (helicone, lunary) = (FakeSink::helicone().await, FakeSink::lunary().await);
    helicone.set_mode(FakeMode::Fail {
        status: 400,
        remaining: None,
    });
    let mut s = settings(prefix.url(), prefix.prefix(), dir.path());
    enable_helicone(&mut s, helicone.url());
    enable_lunary(&mut s, lunary.url());
    let s = Arc::new(s);
    let app = Application::build(s.clone()).await.unwrap();
    let handle = app.server_handle();
    let running = actix_rt::spawn(app.run_until_stopped());

    publish(&s, 6).await;
    let keys = KeySpace::from_settings(&s);
    let dlq = keys.dlq("helicone");
    assert!(eventually(WAIT, || async { xlen(&s, &dlq).await == 6 }).await);
    // Dead-lettered at once: one attempt per event, no retries.
    assert_eq!(helicone.requests(), 6);
    assert!(
        lunary
            .wait_for(WAIT, |f| f.lunary_events().len() == 12)
            .await
    );
    assert_eq!(xlen(&s, &keys.dlq("lunary")).await, 0);
    let report = status(&s).await.unwrap();
    let h = report.sinks.iter().find(|x| x.sink == "helicone").unwrap();
    assert_eq!((h.pending, h.dlq_length), (0, 6));

    helicone.recover();
    let replayed = replay(&s, "helicone", ReplayFrom::Dlq).await.unwrap();
    assert_eq!(
        (replayed.read, replayed.delivered, replayed.failed),
        (6, 6, 0)
    );
    assert_eq!(helicone.helicone_logs().len(), 6);
    assert_eq!(xlen(&s, &dlq).await, 0);

    // Backfill from the stream: a sink can be replayed from any point.
    let again = replay(&s, "helicone", "0".parse().unwrap()).await.unwrap();
    assert_eq!(again.read, 6);

    handle.stop(true).await;
    running.await.unwrap().unwrap();
    helicone.stop().await;
    lunary.stop().await;
    prefix.cleanup().await.unwrap();
}

/// The proxy publishes an event twice when an `XADD` times out after Redis stored it (the batch
/// is spilled and published again): each sink still gets it once, and both entries are acked.
#[actix_web::test]
async fn an_event_published_twice_reaches_each_sink_once() {
    let prefix = RedisPrefix::unique();
    let dir = tempfile::tempdir().unwrap();
    let (loki, lunary) = (FakeSink::loki().await, FakeSink::lunary().await);
    let mut s = settings(prefix.url(), prefix.prefix(), dir.path());
    enable_loki(&mut s, loki.url());
    enable_lunary(&mut s, lunary.url());
    let s = Arc::new(s);
    let app = Application::build(s.clone()).await.unwrap();
    let handle = app.server_handle();
    let running = actix_rt::spawn(app.run_until_stopped());

    let first = publish(&s, 5).await;
    assert!(
        lunary
            .wait_for(WAIT, |f| f.lunary_events().len() == 10)
            .await
    );
    // Published again after delivery, and one published twice in one go; then one more, so
    // everything before it has been read once that one arrives.
    let twice = llm_proxy_testkit::fake_sinks::sample_event();
    publish_these(&s, &first).await;
    publish_these(&s, &[twice.clone(), twice.clone()]).await;
    let last = publish(&s, 1).await;
    let last_id = last[0].id.to_string();
    assert!(
        lunary
            .wait_for(WAIT, |f| f
                .lunary_events()
                .iter()
                .any(|e| e["runId"].as_str() == Some(last_id.as_str())))
            .await
    );
    assert!(loki.wait_for(WAIT, |f| f.loki_entries().len() >= 7).await);
    assert!(
        eventually(WAIT, || nothing_pending(&s)).await,
        "the duplicate entries are acknowledged"
    );
    assert_eq!(
        lunary.lunary_events().len(),
        14,
        "start and end of 7 events"
    );
    let ids: Vec<String> = loki_ids(&loki).into_iter().collect();
    assert_eq!(ids.len(), 7, "{ids:?}");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 7);

    handle.stop(true).await;
    running.await.unwrap().unwrap();
    loki.stop().await;
    lunary.stop().await;
    prefix.cleanup().await.unwrap();
}
