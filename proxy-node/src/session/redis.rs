//! [`RedisSequencer`]: distributed mode, one counter per session on Redis, so sequence numbers
//! increase across every proxy node.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_proxy_platform::redis::{connection_manager, KeySpace};
use llm_proxy_platform::Settings;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{SessionSequencer, SEQ_TTL_SECS};
use crate::error::ProxyError;

/// Deadline of one call, waiting for the connection included: the request path never waits
/// longer for a sequence number.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, calls answer at once (seq 0) for this long, doubling up to `BACKOFF_MAX`
/// while Redis keeps failing, instead of each waiting for the deadline.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// `{prefix}:session:{<id>}:seq`, under `redis.key_prefix` like every other key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    prefix: String,
}

impl SessionKeys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(KeySpace::from_settings(settings).prefix())
    }

    pub fn seq(&self, session_id: &str) -> String {
        format!("{}:session:{{{session_id}}}:seq", self.prefix)
    }
}

pub struct RedisSequencer {
    url: Arc<str>,
    keys: SessionKeys,
    /// Connected on first use, so a node starts while Redis is away.
    conn: Arc<OnceCell<ConnectionManager>>,
    quiet: Mutex<Quiet>,
}

#[derive(Default)]
struct Quiet {
    until: Option<Instant>,
    backoff: Duration,
}

impl RedisSequencer {
    /// Checks the URL; connects on the first call.
    pub fn new(url: &str, keys: SessionKeys) -> Result<Self, ProxyError> {
        redis::Client::open(url).map_err(|e| ProxyError::Settings(format!("redis.url: {e}")))?;
        Ok(Self {
            url: Arc::from(url),
            keys,
            conn: Arc::new(OnceCell::new()),
            quiet: Mutex::default(),
        })
    }

    fn quiet(&self) -> std::sync::MutexGuard<'_, Quiet> {
        self.quiet.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connects in a task of its own, so a caller's deadline never cancels a connection that
    /// is slow to set up; concurrent callers wait for the same attempt.
    async fn connection(&self) -> Result<ConnectionManager, ProxyError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        let (cell, url) = (Arc::clone(&self.conn), Arc::clone(&self.url));
        let attempt = tokio::spawn(async move {
            cell.get_or_try_init(|| connection_manager(&url, TIMEOUT))
                .await
                .cloned()
        });
        match attempt.await {
            Ok(result) => result.map_err(|e| ProxyError::Redis(e.to_string())),
            Err(e) => Err(ProxyError::Redis(format!("connect task failed: {e}"))),
        }
    }

    /// `INCR` and `EXPIRE` in one round trip.
    async fn incr(&self, session_id: &str) -> Result<u64, ProxyError> {
        let mut conn = self.connection().await?;
        let key = self.keys.seq(session_id);
        let (seq,): (u64,) = redis::pipe()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(SEQ_TTL_SECS)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(|e| ProxyError::Redis(e.to_string()))?;
        Ok(seq)
    }
}

#[async_trait]
impl SessionSequencer for RedisSequencer {
    async fn next(&self, session_id: &str) -> Result<u64, ProxyError> {
        if self
            .quiet()
            .until
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(ProxyError::Redis(
                "unavailable, retrying shortly".to_owned(),
            ));
        }
        let result = match tokio::time::timeout(TIMEOUT, self.incr(session_id)).await {
            Ok(result) => result,
            Err(_) => Err(ProxyError::Redis(format!(
                "no answer within {} ms",
                TIMEOUT.as_millis()
            ))),
        };
        let mut quiet = self.quiet();
        match &result {
            Ok(_) => *quiet = Quiet::default(),
            Err(_) => {
                quiet.backoff = (quiet.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                quiet.until = Some(Instant::now() + quiet.backoff);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_are_prefixed_and_tagged_by_session() {
        let keys = SessionKeys::new("llmp");
        assert_eq!(keys.seq("abc"), "llmp:session:{abc}:seq");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_then_stays_quiet() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = RedisSequencer::new(&format!("redis://127.0.0.1:{port}"), SessionKeys::new("t"))
            .unwrap();
        let started = Instant::now();
        assert!(s.next("a").await.is_err());
        assert!(started.elapsed() <= TIMEOUT + Duration::from_millis(100));
        let started = Instant::now();
        assert!(s.next("a").await.is_err());
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
