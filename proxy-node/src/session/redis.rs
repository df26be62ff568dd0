//! [`RedisTracker`]: distributed mode. Each session's counter and remembered prefixes live on
//! Redis and one script places a call (sequence number and lineage) atomically, so numbers
//! increase and lineage holds across every proxy node, however many calls run at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_proxy_platform::redis::{connection_manager, KeySpace};
use llm_proxy_platform::Settings;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::chain::{self, Chain};
use super::lineage::{self, Decision, Placement, MAX_SESSION_PREFIXES};
use super::{SessionTracker, SESSION_TTL_SECS};
use crate::error::ProxyError;

/// Deadline of one call, waiting for the connection included: the request path never waits
/// longer for a sequence number.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, calls answer at once (seq 0) for this long, doubling up to `BACKOFF_MAX`
/// while Redis keeps failing, instead of each waiting for the deadline.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A session's keys under `redis.key_prefix`, hash-tagged by session (one slot per session in
/// a cluster): `{prefix}:session:{<id>}:seq`, `…:prefixes` (prefix hash → latest call that
/// contained it) and `…:tips` (prefix hash → latest call whose whole conversation it was).
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

    pub fn prefixes(&self, session_id: &str) -> String {
        format!("{}:session:{{{session_id}}}:prefixes", self.prefix)
    }

    pub fn tips(&self, session_id: &str) -> String {
        format!("{}:session:{{{session_id}}}:tips", self.prefix)
    }
}

pub struct RedisTracker {
    url: Arc<str>,
    keys: SessionKeys,
    /// Connected on first use, so a node starts while Redis is away.
    conn: Arc<OnceCell<ConnectionManager>>,
    quiet: Mutex<Quiet>,
    script: redis::Script,
}

#[derive(Default)]
struct Quiet {
    until: Option<Instant>,
    backoff: Duration,
}

impl RedisTracker {
    /// Checks the URL; connects on the first call.
    pub fn new(url: &str, keys: SessionKeys) -> Result<Self, ProxyError> {
        redis::Client::open(url).map_err(|e| ProxyError::Settings(format!("redis.url: {e}")))?;
        Ok(Self {
            url: Arc::from(url),
            keys,
            conn: Arc::new(OnceCell::new()),
            quiet: Mutex::default(),
            script: redis::Script::new(include_str!("place.lua")),
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

    /// One script call: the counter, the lookup and the update.
    async fn run(&self, session_id: &str, chain: Option<&Chain>) -> Result<Placement, ProxyError> {
        let mut conn = self.connection().await?;
        let window = chain.map(lineage::window).unwrap_or_default();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.keys.seq(session_id))
            .key(self.keys.prefixes(session_id))
            .key(self.keys.tips(session_id))
            .arg(SESSION_TTL_SECS)
            .arg(MAX_SESSION_PREFIXES)
            .arg(u8::from(chain.is_some_and(|c| c.server_state)));
        for hash in window {
            invocation.arg(chain::hex(hash));
        }
        let (seq, matched, code, parent): (u64, usize, u8, u64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| ProxyError::Redis(e.to_string()))?;
        let decision = lineage::from_code(code).map(|lineage| Decision {
            lineage,
            parent_seq: (parent > 0).then_some(parent),
            matched: matched.checked_sub(1),
        });
        Ok(lineage::placement(seq, chain, decision))
    }
}

#[async_trait]
impl SessionTracker for RedisTracker {
    async fn place(
        &self,
        session_id: &str,
        chain: Option<&Chain>,
    ) -> Result<Placement, ProxyError> {
        if self
            .quiet()
            .until
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(ProxyError::Redis(
                "unavailable, retrying shortly".to_owned(),
            ));
        }
        let result = match tokio::time::timeout(TIMEOUT, self.run(session_id, chain)).await {
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
        assert_eq!(keys.prefixes("abc"), "llmp:session:{abc}:prefixes");
        assert_eq!(keys.tips("abc"), "llmp:session:{abc}:tips");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_then_stays_quiet() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s =
            RedisTracker::new(&format!("redis://127.0.0.1:{port}"), SessionKeys::new("t")).unwrap();
        let started = Instant::now();
        assert!(s.place("a", None).await.is_err());
        assert!(started.elapsed() <= TIMEOUT + Duration::from_millis(100));
        let started = Instant::now();
        assert!(s.place("a", None).await.is_err());
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
