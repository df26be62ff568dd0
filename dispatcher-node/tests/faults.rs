//! Fault tests on a redis-server each test starts itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use dispatcher_node::consumer::LoopConfig;
use dispatcher_node::{Metrics, RedisDispatcher, SinkSpec};

const WAIT: Duration = Duration::from_secs(20);

fn recording_spec(sink: Recording) -> SinkSpec {
    SinkSpec::new("file", move || {
        Ok(Box::new(sink) as Box<dyn dispatcher_node::Sink>)
    })
}

#[actix_web::test]
async fn a_crashed_dispatchers_batch_is_taken_over() {
    let redis = OwnRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(settings(&redis.url(), "crash", dir.path()));
    let metrics = Metrics::new();
    let events = publish(&s, 120).await;

    // Dispatcher A reads a batch and dies in the middle of delivering it.
    let stuck = Recording {
        hang: true,
        ..Recording::default()
    };
    let mut config_a = LoopConfig::from_settings(&s, "file").unwrap();
    config_a.consumer = "host-a".into();
    let a = RedisDispatcher::start_with(vec![(recording_spec(stuck.clone()), config_a)], &metrics);
    assert!(eventually(WAIT, || async { !stuck.ids().is_empty() }).await);
    a.kill();
    let in_flight = stuck.ids().len();
    assert!(in_flight > 0 && in_flight <= 50, "{in_flight}");

    // Dispatcher B (another host) takes over A's idle entries and reads the rest.
    let ok = Recording::default();
    let mut config_b = LoopConfig::from_settings(&s, "file").unwrap();
    config_b.consumer = "host-b".into();
    let b = RedisDispatcher::start_with(vec![(recording_spec(ok.clone()), config_b)], &metrics);
    let all: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert!(
        eventually(WAIT, || async {
            let seen: HashSet<_> = ok.ids().into_iter().collect();
            all.is_subset(&seen)
        })
        .await,
        "every event delivered at least once"
    );
    // Duplicates bounded by what A had in flight.
    assert!(ok.ids().len() <= events.len() + in_flight);
    // B acknowledges right after its sink confirmed, so the pending count follows shortly.
    let keys = llm_proxy_platform::redis::KeySpace::from_settings(&s);
    let pending = || async {
        let report = dispatcher_node::status::collect(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
            &keys,
            &["file"],
        )
        .await
        .unwrap();
        report
            .sinks
            .iter()
            .find(|x| x.sink == "file")
            .unwrap()
            .pending
    };
    assert!(
        eventually(WAIT, || async { pending().await == 0 }).await,
        "A's entries were acknowledged by B: {} still pending",
        pending().await
    );
    b.stop(Duration::from_secs(2)).await;
}

#[actix_web::test]
async fn a_restarted_dispatcher_redelivers_its_own_unacknowledged_entries() {
    let redis = OwnRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&redis.url(), "restart", dir.path());
    s.dispatcher.claim_idle_ms = 600_000; // no takeover: only the same consumer's restart
    let s = Arc::new(s);
    let metrics = Metrics::new();
    let events = publish(&s, 30).await;
    let stuck = Recording {
        hang: true,
        ..Recording::default()
    };
    let a = RedisDispatcher::start_with(
        vec![(
            recording_spec(stuck.clone()),
            LoopConfig::from_settings(&s, "file").unwrap(),
        )],
        &metrics,
    );
    assert!(eventually(WAIT, || async { !stuck.ids().is_empty() }).await);
    a.kill();

    let ok = Recording::default();
    let again = RedisDispatcher::start_with(
        vec![(
            recording_spec(ok.clone()),
            LoopConfig::from_settings(&s, "file").unwrap(),
        )],
        &metrics,
    );
    let all: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert!(
        eventually(WAIT, || async {
            all.is_subset(&ok.ids().into_iter().collect())
        })
        .await
    );
    again.stop(Duration::from_secs(2)).await;
}

#[actix_web::test]
async fn the_dispatcher_survives_a_redis_restart() {
    let mut redis = OwnRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(settings(&redis.url(), "bounce", dir.path()));
    let metrics = Metrics::new();
    let ok = Recording::default();
    let d = RedisDispatcher::start_with(
        vec![(
            recording_spec(ok.clone()),
            LoopConfig::from_settings(&s, "file").unwrap(),
        )],
        &metrics,
    );
    let first = publish(&s, 10).await;
    assert!(eventually(WAIT, || async { ok.ids().len() >= 10 }).await);

    // Restart Redis on the same port (AOF keeps the stream and the group).
    redis.restart().await;
    let second = publish(&s, 10).await;
    let all: HashSet<_> = first.iter().chain(&second).map(|e| e.id).collect();
    assert!(
        eventually(WAIT, || async {
            all.is_subset(&ok.ids().into_iter().collect())
        })
        .await,
        "events published after the restart are delivered"
    );
    d.stop(Duration::from_secs(2)).await;
}
