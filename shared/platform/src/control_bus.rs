//! Fan-out of control events to every token cache. In one process a broadcast channel is the
//! whole bus; in distributed mode a Redis pub/sub bridge feeds the same channel.

use std::sync::Arc;

use llm_proxy_core::control::ControlEvent;
use tokio::sync::broadcast;

use crate::redis::{
    spawn_control_subscriber, ControlSubscriber, KeySpace, RedisConnectError, RedisControlPublisher,
};
use crate::Settings;

/// Carries control events to other processes (Redis pub/sub in distributed mode).
pub trait RemotePublisher: Send + Sync {
    fn publish(&self, event: &ControlEvent);
}

#[derive(Clone)]
pub struct ControlBus {
    local: broadcast::Sender<ControlEvent>,
    remote: Option<Arc<dyn RemotePublisher>>,
    /// The Redis subscription feeding this bus; it stops when the last clone is dropped.
    bridge: Option<Arc<ControlSubscriber>>,
}

impl ControlBus {
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(1024);
        Self {
            local,
            remote: None,
            bridge: None,
        }
    }

    pub fn with_remote(remote: Arc<dyn RemotePublisher>) -> Self {
        let mut bus = Self::in_process();
        bus.remote = Some(remote);
        bus
    }

    /// Distributed mode: events published here also go to `{prefix}:control`, and events other
    /// nodes publish there are delivered here (this node's own come back too; evictions are
    /// idempotent). Must be called inside a Tokio runtime; Redis need not be up yet.
    pub fn redis(url: &str, keys: &KeySpace) -> Result<Self, RedisConnectError> {
        let publisher = RedisControlPublisher::start(url, keys)?;
        let bus = Self::with_remote(Arc::new(publisher));
        // The subscriber's own clone has no bridge, so dropping every other clone stops it.
        let subscriber = spawn_control_subscriber(url, keys, bus.clone())?;
        Ok(Self {
            bridge: Some(Arc::new(subscriber)),
            ..bus
        })
    }

    /// [`Self::redis`] when `redis.url` is set, otherwise [`Self::in_process`].
    pub fn from_settings(settings: &Settings) -> Result<Self, RedisConnectError> {
        match &settings.redis.url {
            Some(url) => Self::redis(url.expose(), &KeySpace::from_settings(settings)),
            None => Ok(Self::in_process()),
        }
    }

    /// The Redis subscription feeding this bus, if any (for readiness and metrics).
    pub fn subscriber(&self) -> Option<&ControlSubscriber> {
        self.bridge.as_deref()
    }

    /// Called after the commit that caused the change.
    pub fn publish(&self, event: ControlEvent) {
        if let Some(remote) = &self.remote {
            remote.publish(&event);
        }
        self.deliver_locally(event);
    }

    /// Events that arrived from another process: deliver here only.
    pub fn deliver_locally(&self, event: ControlEvent) {
        // No subscriber yet is fine: nothing is cached that could be stale.
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ControlEvent> {
        self.local.subscribe()
    }
}

impl std::fmt::Debug for ControlBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlBus")
            .field("subscribers", &self.local.receiver_count())
            .field("remote", &self.remote.is_some())
            .field("subscribed", &self.subscriber().map(|s| s.is_subscribed()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[tokio::test]
    async fn every_subscriber_sees_a_published_event() {
        let bus = ControlBus::in_process();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        let event = ControlEvent::TokenChanged {
            token_id: Uuid::new_v4(),
        };
        bus.publish(event.clone());
        assert_eq!(a.recv().await.unwrap(), event);
        assert_eq!(b.recv().await.unwrap(), event);
    }
}
