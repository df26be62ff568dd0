//! One Redis connection per thread that uses it. An actix worker runs its own single-threaded
//! runtime: a connection whose driver task lives on another thread costs two cross-thread
//! wake-ups per command (there and back), and the admission script runs on every request.
//! Each thread's connection is opened lazily on its first command, so its driver task is
//! spawned on that thread's runtime.
//!
//! A failed command makes every thread open a new connection for its next command: when Redis
//! restarts, all connections break at once, and a thread should not have to fail a request of
//! its own to find out (one shared connection paid one failure per outage; so does this).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use thread_local::ThreadLocal;

use crate::LimitsError;

pub(super) struct PerThreadConnection {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Bumped by every failure; a connection opened under an older one is replaced.
    generation: AtomicU64,
    connections: ThreadLocal<RefCell<Option<(u64, ConnectionManager)>>>,
}

impl PerThreadConnection {
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        Self {
            client,
            config,
            generation: AtomicU64::new(0),
            connections: ThreadLocal::new(),
        }
    }

    /// This thread's connection (opened lazily; it reconnects by itself). Must be called on a
    /// Tokio runtime.
    pub(super) fn get(&self) -> Result<ConnectionManager, LimitsError> {
        let current = self.generation.load(Ordering::Acquire);
        let mut slot = self.connections.get_or_default().borrow_mut();
        if let Some((generation, conn)) = slot.as_ref() {
            if *generation == current {
                return Ok(conn.clone());
            }
        }
        let conn =
            ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
                .map_err(|e| LimitsError::Config(format!("redis connection: {e}")))?;
        *slot = Some((current, conn.clone()));
        Ok(conn)
    }

    /// A command failed or timed out: every thread's next command goes on a new connection.
    pub(super) fn discard_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
