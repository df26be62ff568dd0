//! One pipelined `XADD … MAXLEN ~` round trip per batch, bounded in time.

use std::time::Duration;

use llm_proxy_core::event::RequestEvent;
use llm_proxy_platform::redis::{
    lazy_connection_manager, publish_events, KeySpace, PublishError, RedisConnectError,
};
use redis::aio::ConnectionManager;

pub(super) enum PublishFailure {
    /// Redis is down, slow or refused the write: keep the events and try again later.
    Unavailable(String),
    Encode(serde_json::Error),
}

pub(super) struct StreamPublisher {
    conn: ConnectionManager,
    keys: KeySpace,
}

impl StreamPublisher {
    /// Connects on first use. `response_timeout` is the longest any publish may wait.
    pub(super) fn new(
        url: &str,
        keys: KeySpace,
        response_timeout: Duration,
    ) -> Result<Self, RedisConnectError> {
        Ok(Self {
            conn: lazy_connection_manager(url, response_timeout)?,
            keys,
        })
    }

    pub(super) async fn publish(
        &self,
        events: &[RequestEvent],
        timeout: Duration,
    ) -> Result<(), PublishFailure> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(timeout, publish_events(&mut conn, &self.keys, events)).await {
            Ok(Ok(_ids)) => Ok(()),
            Ok(Err(PublishError::Encode(e))) => Err(PublishFailure::Encode(e)),
            Ok(Err(e)) => Err(PublishFailure::Unavailable(e.to_string())),
            Err(_) => Err(PublishFailure::Unavailable(format!(
                "no answer within {timeout:?}"
            ))),
        }
    }
}
