//! Control events between two "nodes" (two `ControlBus`es) over real Redis pub/sub: delivery in
//! milliseconds on the shared Redis under a prefix of the test's own, and reconnection with a
//! local `FlushAll` across a restart of a redis-server the test started itself.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use llm_proxy_core::control::ControlEvent;
use llm_proxy_platform::redis::KeySpace;
use llm_proxy_platform::ControlBus;
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use llm_proxy_testkit::redis_server::RedisServer;
use tokio::sync::broadcast;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

fn token_changed() -> ControlEvent {
    ControlEvent::TokenChanged {
        token_id: Uuid::new_v4(),
    }
}

async fn subscribed(bus: &ControlBus, times: u64) {
    let subscriber = bus.subscriber().unwrap();
    assert!(
        subscriber.wait_subscribed(times, WAIT).await,
        "not subscribed {times} time(s)"
    );
}

/// Receives until `wanted` arrives; panics after `timeout`.
async fn expect(
    rx: &mut broadcast::Receiver<ControlEvent>,
    wanted: &ControlEvent,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(event)) if &event == wanted => return,
            Ok(Ok(_other)) => continue,
            Ok(Err(e)) => panic!("bus closed: {e}"),
            Err(_) => panic!("{wanted:?} did not arrive within {timeout:?}"),
        }
    }
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_the_other_in_milliseconds() {
    let prefix = RedisPrefix::unique();
    let keys = KeySpace::new(prefix.prefix(), 1, 1000);
    let admin = ControlBus::redis(prefix.url(), &keys).unwrap();
    let proxy = ControlBus::redis(prefix.url(), &keys).unwrap();
    let elsewhere = ControlBus::redis(
        prefix.url(),
        &KeySpace::new(RedisPrefix::unique().prefix(), 1, 1000),
    )
    .unwrap();
    subscribed(&admin, 1).await;
    subscribed(&proxy, 1).await;
    subscribed(&elsewhere, 1).await;
    let mut at_proxy = proxy.subscribe();
    let mut at_elsewhere = elsewhere.subscribe();

    let mut latencies = Vec::new();
    for _ in 0..20 {
        let event = token_changed();
        let sent = Instant::now();
        admin.publish(event.clone());
        expect(&mut at_proxy, &event, Duration::from_secs(1)).await;
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    println!(
        "control event latency: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        latencies[latencies.len() - 1] < Duration::from_millis(500),
        "{latencies:?}"
    );
    assert!(
        at_elsewhere.try_recv().is_err(),
        "another prefix hears nothing"
    );
    prefix.cleanup().await.unwrap();
}

#[tokio::test]
async fn the_subscriber_reconnects_after_a_redis_restart_flushes_and_keeps_receiving() {
    let mut redis = RedisServer::start().await;
    let keys = KeySpace::new("control", 1, 1000);
    let admin = ControlBus::redis(&redis.url(), &keys).unwrap();
    let proxy = ControlBus::redis(&redis.url(), &keys).unwrap();
    subscribed(&proxy, 1).await;
    let mut at_proxy = proxy.subscribe();

    let before = token_changed();
    admin.publish(before.clone());
    expect(&mut at_proxy, &before, WAIT).await;

    redis.restart().await;
    subscribed(&proxy, 2).await;
    expect(&mut at_proxy, &ControlEvent::FlushAll, WAIT).await;

    let after = ControlEvent::ProjectChanged {
        project_id: Uuid::new_v4(),
    };
    admin.publish(after.clone());
    expect(&mut at_proxy, &after, WAIT).await;
}

#[tokio::test]
async fn a_node_started_while_redis_is_down_subscribes_when_it_comes_up() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let keys = KeySpace::new("control", 1, 1000);
    let proxy = ControlBus::redis(&redis.url(), &keys).unwrap();
    let mut at_proxy = proxy.subscribe();
    assert!(!proxy.subscriber().unwrap().is_subscribed());

    redis.start_again().await;
    subscribed(&proxy, 1).await;
    expect(&mut at_proxy, &ControlEvent::FlushAll, WAIT).await;

    let admin = ControlBus::redis(&redis.url(), &keys).unwrap();
    let event = token_changed();
    admin.publish(event.clone());
    expect(&mut at_proxy, &event, WAIT).await;
}

#[tokio::test]
async fn from_settings_without_redis_stays_in_process() {
    let bus = ControlBus::from_settings(&llm_proxy_platform::Settings::default()).unwrap();
    assert!(bus.subscriber().is_none());
    let mut rx = bus.subscribe();
    let event = token_changed();
    bus.publish(event.clone());
    assert_eq!(rx.recv().await.unwrap(), event);
}
