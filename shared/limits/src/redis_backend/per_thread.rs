//! One Redis connection per thread that uses it. An actix worker runs its own single-threaded
//! runtime: a connection whose driver task lives on another thread costs two cross-thread
//! wake-ups per command (there and back), and the admission script runs on every request.
//! Each thread's connection is opened lazily on its first command, so its driver task is
//! spawned on that thread's runtime.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use thread_local::ThreadLocal;

use crate::LimitsError;

pub(super) struct PerThreadConnection {
    client: redis::Client,
    config: ConnectionManagerConfig,
    connections: ThreadLocal<ConnectionManager>,
}

impl PerThreadConnection {
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        Self {
            client,
            config,
            connections: ThreadLocal::new(),
        }
    }

    /// This thread's connection (opened lazily; it reconnects by itself). Must be called on a
    /// Tokio runtime.
    pub(super) fn get(&self) -> Result<ConnectionManager, LimitsError> {
        self.connections
            .get_or_try(|| {
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            })
            .cloned()
            .map_err(|e| LimitsError::Config(format!("redis connection: {e}")))
    }
}
