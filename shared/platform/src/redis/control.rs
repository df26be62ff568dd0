//! Control events between nodes over Redis pub/sub (DESIGN §7): each event is published as its
//! JSON on `{prefix}:control`; every subscribed node delivers it to its local [`ControlBus`].
//!
//! Pub/sub keeps nothing for a node that is not connected, so a subscriber that lost its
//! connection delivers [`ControlEvent::FlushAll`] locally once it is subscribed again.

use std::time::Duration;

use futures_util::StreamExt;
use llm_proxy_core::control::ControlEvent;
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};
use redis::Client;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{lazy_connection_manager, KeySpace, RedisConnectError};
use crate::control_bus::{ControlBus, RemotePublisher};

/// Events waiting to be published; control events are rare, so a full queue means Redis has
/// been unreachable for a long time.
const PUBLISH_QUEUE: usize = 4096;
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);
/// About 3 s of retries in all before an event is given up on.
const PUBLISH_ATTEMPTS: u32 = 7;
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection that died without a FIN (partition, paused host) is found by pinging it.
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(1);
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Publishes control events to the other nodes without blocking the caller: `publish` queues
/// the event for a task that sends it (`PUBLISH`), retrying for a few seconds while Redis is
/// unreachable. The task ends once the publisher is dropped and its queue is drained.
#[derive(Debug)]
pub struct RedisControlPublisher {
    queue: mpsc::Sender<ControlEvent>,
}

impl RedisControlPublisher {
    /// Must be called inside a Tokio runtime; Redis need not be up yet.
    pub fn start(url: &str, keys: &KeySpace) -> Result<Self, RedisConnectError> {
        let conn = lazy_connection_manager(url, PUBLISH_TIMEOUT)?;
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(conn, keys.control_channel(), rx));
        Ok(Self { queue })
    }
}

impl RemotePublisher for RedisControlPublisher {
    fn publish(&self, event: &ControlEvent) {
        if let Err(e) = self.queue.try_send(event.clone()) {
            tracing::error!(?event, error = %e, "control event not published to other nodes");
        }
    }
}

async fn publish_loop(
    mut conn: ConnectionManager,
    channel: String,
    mut queue: mpsc::Receiver<ControlEvent>,
) {
    while let Some(event) = queue.recv().await {
        let payload = match serde_json::to_string(&event) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(?event, error = %e, "cannot encode a control event");
                continue;
            }
        };
        let mut delay = RETRY_MIN;
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let sent = tokio::time::timeout(
                PUBLISH_TIMEOUT,
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&payload)
                    .query_async::<i64>(&mut conn),
            )
            .await;
            let error = match sent {
                Ok(Ok(_receivers)) => break,
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {PUBLISH_TIMEOUT:?}"),
            };
            if attempt == PUBLISH_ATTEMPTS {
                tracing::error!(?event, %error, attempts = attempt,
                    "control event not published to other nodes: Redis unavailable");
                break;
            }
            tracing::debug!(?event, %error, attempt, "retrying a control event");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }
}

/// The state of a subscriber, for readiness checks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Status {
    subscribed: bool,
    subscriptions: u64,
}

/// A running subscription of `{prefix}:control`. Dropping it stops the task.
#[derive(Debug)]
pub struct ControlSubscriber {
    task: JoinHandle<()>,
    status: watch::Receiver<Status>,
}

impl ControlSubscriber {
    /// Subscribed right now.
    pub fn is_subscribed(&self) -> bool {
        self.status.borrow().subscribed
    }

    /// Successful subscriptions so far: above 1 means the subscriber has reconnected.
    pub fn subscriptions(&self) -> u64 {
        self.status.borrow().subscriptions
    }

    /// Waits until subscribed (at least `min_subscriptions` times in all) or `timeout` passes.
    pub async fn wait_subscribed(&self, min_subscriptions: u64, timeout: Duration) -> bool {
        let mut status = self.status.clone();
        let reached = status.wait_for(|s| s.subscribed && s.subscriptions >= min_subscriptions);
        let outcome = tokio::time::timeout(timeout, reached).await;
        matches!(outcome, Ok(Ok(_)))
    }
}

impl Drop for ControlSubscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes to `{prefix}:control` and delivers every event to `bus` locally, reconnecting
/// with backoff for as long as the returned handle lives. After any connection failure, the
/// next successful subscription is followed by a local `FlushAll`. Must be called inside a
/// Tokio runtime; Redis need not be up yet.
pub fn spawn_control_subscriber(
    url: &str,
    keys: &KeySpace,
    bus: ControlBus,
) -> Result<ControlSubscriber, RedisConnectError> {
    let client = Client::open(url)?;
    let (tx, status) = watch::channel(Status::default());
    let task = tokio::spawn(subscribe_loop(client, keys.control_channel(), bus, tx));
    Ok(ControlSubscriber { task, status })
}

async fn subscribe_loop(
    client: Client,
    channel: String,
    bus: ControlBus,
    status: watch::Sender<Status>,
) {
    let mut delay = RECONNECT_MIN;
    let mut missed_events = false;
    loop {
        match subscribe(&client, &channel).await {
            Ok((sink, stream)) => {
                delay = RECONNECT_MIN;
                status.send_modify(|s| {
                    s.subscribed = true;
                    s.subscriptions += 1;
                });
                if missed_events {
                    tracing::info!(%channel, "control channel reconnected; flushing caches");
                    bus.deliver_locally(ControlEvent::FlushAll);
                }
                listen(sink, stream, &bus).await;
                status.send_modify(|s| s.subscribed = false);
                tracing::warn!(%channel, "control channel connection lost; reconnecting");
            }
            Err(error) => {
                if !missed_events {
                    tracing::warn!(%channel, %error, "cannot subscribe to the control channel; retrying");
                }
            }
        }
        missed_events = true;
        tokio::time::sleep(with_jitter(delay)).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

async fn subscribe(client: &Client, channel: &str) -> Result<(PubSubSink, PubSubStream), String> {
    let connect = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    };
    match tokio::time::timeout(SUBSCRIBE_TIMEOUT, connect).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {SUBSCRIBE_TIMEOUT:?}")),
    }
}

/// Delivers messages until the connection is lost.
async fn listen(mut sink: PubSubSink, mut stream: PubSubStream, bus: &ControlBus) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => deliver(&message, bus),
                None => return,
            },
            _ = ping.tick() => {
                let pong = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

fn deliver(message: &redis::Msg, bus: &ControlBus) {
    let event = message
        .get_payload::<String>()
        .map_err(|e| e.to_string())
        .and_then(|payload| {
            serde_json::from_str::<ControlEvent>(&payload).map_err(|e| e.to_string())
        });
    match event {
        Ok(event) => bus.deliver_locally(event),
        Err(error) => tracing::warn!(%error, "ignored a malformed control message"),
    }
}

fn with_jitter(delay: Duration) -> Duration {
    let spread = u64::try_from(delay.as_millis() / 2).unwrap_or(0);
    delay + Duration::from_millis(rand::random_range(0..=spread))
}
