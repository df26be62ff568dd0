//! Sinks against the fake vendors directly, and the in-process (embedded) dispatcher.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dispatcher_node::sink::{LokiSink, LunarySink};
use dispatcher_node::{InProcessConfig, InProcessDispatcher, Metrics, Sink, SinkError};
use llm_proxy_platform::settings::{FileLayout, LokiSinkSettings, LunarySinkSettings};
use llm_proxy_testkit::fake_sinks::{sample_event, FakeMode, FakeSink, LOKI_MAX_LINE_BYTES};
use serde_json::{json, Value};

#[actix_web::test]
async fn loki_cuts_oversize_lines_so_the_batch_is_accepted() {
    let loki = FakeSink::loki().await;
    loki.require_authorization("Bearer loki-token");
    let sink = LokiSink::new(LokiSinkSettings {
        enabled: true,
        url: loki.url(),
        bearer_token: Some(llm_proxy_core::SecretString::new("loki-token")),
        ..LokiSinkSettings::default()
    });
    let mut big = sample_event();
    big.response.body = json!("y".repeat(400 * 1024)).into();
    let small = sample_event();
    sink.deliver(&[Arc::new(big.clone()), Arc::new(small.clone())])
        .await
        .unwrap();
    assert!(loki.rejections().is_empty(), "{:?}", loki.rejections());
    let entries = loki.loki_entries();
    assert_eq!(entries.len(), 2);
    let lines: Vec<Value> = entries
        .iter()
        .map(|(_, v)| serde_json::from_str(v[1].as_str().unwrap()).unwrap())
        .collect();
    let cut = lines
        .iter()
        .find(|l| l["id"] == big.id.to_string())
        .unwrap();
    assert_eq!(cut["line_truncated"], true);
    assert!(cut["response"]["body"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    assert!(entries
        .iter()
        .all(|(_, v)| v[1].as_str().unwrap().len() <= LOKI_MAX_LINE_BYTES));
    assert_eq!(loki.accepted()[0].header("content-encoding"), Some("gzip"));
    loki.stop().await;
}

#[actix_web::test]
async fn lunary_wants_an_events_object_and_reports_partial_failures() {
    let lunary = FakeSink::lunary().await;
    let sink = LunarySink::new(LunarySinkSettings {
        enabled: true,
        url: lunary.url(),
        key: Some(llm_proxy_core::SecretString::new(
            llm_proxy_testkit::fake_sinks::LUNARY_TEST_KEY,
        )),
        ..LunarySinkSettings::default()
    })
    .unwrap();
    let (a, b) = (sample_event(), sample_event());
    lunary.reject_run(&b.id.to_string());
    let err = sink.deliver(&[Arc::new(a), Arc::new(b)]).await.unwrap_err();
    assert!(
        matches!(err, SinkError::Partial { ref rejected, .. } if rejected == &vec![1]),
        "{err:?}"
    );
    assert!(lunary.accepted()[0].body["events"].is_array());

    // The fake holds Lunary's line: a bare array is "Missing events payload."
    let bare = awc::Client::default()
        .post(format!("{}/v1/runs/ingest", lunary.url()))
        .insert_header((
            "authorization",
            format!("Bearer {}", llm_proxy_testkit::fake_sinks::LUNARY_TEST_KEY),
        ))
        .send_json(&json!([{"type": "llm", "event": "start"}]))
        .await
        .unwrap();
    assert_eq!(bare.status(), 500);

    lunary.set_mode(FakeMode::Fail {
        status: 429,
        remaining: Some(1),
    });
    let err = sink.deliver(&[Arc::new(sample_event())]).await.unwrap_err();
    assert!(matches!(err, SinkError::Retryable { .. }));
    sink.deliver(&[Arc::new(sample_event())]).await.unwrap();
    lunary.stop().await;
}

#[actix_web::test]
async fn helicone_200_with_error_is_a_failed_delivery() {
    let helicone = FakeSink::helicone().await;
    let mut s = llm_proxy_platform::Settings::default();
    enable_helicone(&mut s, helicone.url());
    let sink = dispatcher_node::sink::HeliconeSink::new(s.sinks.helicone.clone()).unwrap();
    helicone.set_mode(FakeMode::ErrorIn200);
    let err = sink.deliver(&[Arc::new(sample_event())]).await.unwrap_err();
    assert!(matches!(err, SinkError::Retryable { .. }));
    helicone.recover();
    sink.deliver(&[Arc::new(sample_event())]).await.unwrap();
    assert_eq!(helicone.helicone_logs().len(), 1);
    helicone.stop().await;
}

#[actix_web::test]
async fn the_in_process_dispatcher_feeds_every_sink_and_drains_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let lunary = FakeSink::lunary().await;
    let mut s = settings("redis://unused", "unused", dir.path());
    enable_file(&mut s, FileLayout::Daily);
    enable_lunary(&mut s, lunary.url());
    let s = Arc::new(s);
    let metrics = Metrics::new();
    let dispatcher = InProcessDispatcher::from_settings(&s, &metrics).unwrap();
    let sender = dispatcher.sender();
    let events: Vec<_> = (0..25).map(|_| sample_event()).collect();
    assert_eq!(sender.send_batch(events.clone()).await, 0);
    assert!(
        lunary
            .wait_for(Duration::from_secs(10), |f| f.lunary_events().len() == 50)
            .await
    );
    dispatcher.shutdown(Duration::from_secs(5)).await;
    let day = events[0].occurred_at.format("%Y-%m-%d");
    let text = std::fs::read_to_string(s.events_dir().join(format!("events-{day}.jsonl"))).unwrap();
    assert_eq!(text.lines().count(), 25);
    lunary.stop().await;

    // A sink that keeps failing ends in the DLQ file, never silently lost.
    let dead = FakeSink::lunary().await;
    dead.set_mode(FakeMode::Fail {
        status: 400,
        remaining: None,
    });
    let mut s2 = settings("redis://unused", "unused", dir.path());
    enable_lunary(&mut s2, dead.url());
    let d2 = InProcessDispatcher::from_settings(&Arc::new(s2), &metrics).unwrap();
    d2.sender().send(sample_event()).await;
    let dlq = dir.path().join("dlq").join("lunary.jsonl");
    assert!(eventually(Duration::from_secs(10), || async { dlq.exists() }).await);
    d2.shutdown(Duration::from_secs(5)).await;
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&dlq)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(line["error"].as_str().unwrap().contains("400"));
    dead.stop().await;
    let _ = InProcessConfig::from_settings(&s);
}
