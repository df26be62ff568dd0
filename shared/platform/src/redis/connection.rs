//! Connections: a reconnecting [`ConnectionManager`] for short commands, and a dedicated
//! connection for blocking stream reads (never the request-path pool).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client};

#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis: {0}")]
pub struct RedisConnectError(#[from] redis::RedisError);

/// A shared, self-reconnecting connection for short commands (`XADD`, `XACK`, …).
pub async fn connection_manager(
    url: &str,
    response_timeout: Duration,
) -> Result<ConnectionManager, RedisConnectError> {
    let client = Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(2);
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// Like [`connection_manager`], but connects on first use instead of now, so a node can start
/// while Redis is down. Reconnects are attempted on the next command after a failure, each
/// with one quick retry; callers bound their own wait. Must be called inside a Tokio runtime.
pub fn lazy_connection_manager(
    url: &str,
    response_timeout: Duration,
) -> Result<ConnectionManager, RedisConnectError> {
    let client = Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(response_timeout))
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(200))
        .set_number_of_retries(1);
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// A connection of its own for `XREADGROUP … BLOCK ms`: its response timeout covers the block
/// (`block` plus a margin), and nothing else waits behind the blocked read.
pub async fn blocking_connection(
    url: &str,
    block: Duration,
) -> Result<MultiplexedConnection, RedisConnectError> {
    let client = Client::open(url)?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(block + Duration::from_secs(5)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}
