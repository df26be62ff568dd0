//! Sessions (DESIGN §6): the id from the client ([`extract`]) and a sequence number per
//! session that increases across every proxy node ([`SessionSequencer`]): in memory in embedded
//! mode, on Redis when `redis.url` is set.

mod extract;
mod memory;
mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use llm_proxy_core::event::SessionInfo;
use llm_proxy_platform::Settings;

use crate::error::ProxyError;
use crate::metrics::Metrics;

pub use extract::{extract, GENERATED};
pub use memory::MemorySequencer;
pub use redis::{RedisSequencer, SessionKeys};

/// A session's counter lives this long after its last call.
pub const SEQ_TTL_SECS: u64 = 24 * 3600;

/// Hands out 1, 2, 3, … per session id.
#[async_trait]
pub trait SessionSequencer: Send + Sync {
    /// The next sequence number of this session, starting at 1.
    async fn next(&self, session_id: &str) -> Result<u64, ProxyError>;
}

pub type DynSequencer = Arc<dyn SessionSequencer>;

/// Redis when `redis.url` is set (no I/O here: it connects on first use), memory otherwise.
pub fn build(settings: &Settings) -> Result<DynSequencer, ProxyError> {
    Ok(match &settings.redis.url {
        None => Arc::new(MemorySequencer::default()),
        Some(url) => Arc::new(RedisSequencer::new(
            url.expose(),
            SessionKeys::from_settings(settings),
        )?),
    })
}

/// Sets `session.seq`. A call that is its own session is its first call and needs no lookup; a
/// sequencer that fails gives 0 (never fails the request).
pub async fn assign(
    sequencer: &dyn SessionSequencer,
    metrics: &Metrics,
    session: &mut SessionInfo,
) {
    if session.source == GENERATED || session.id.is_empty() {
        session.seq = 1;
        return;
    }
    session.seq = match sequencer.next(&session.id).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::debug!(error = %e, "no session sequence number; using 0");
            metrics.session_seq_fallbacks.inc();
            0
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct Failing;

    #[async_trait]
    impl SessionSequencer for Failing {
        async fn next(&self, _: &str) -> Result<u64, ProxyError> {
            Err(ProxyError::Redis("down".into()))
        }
    }

    fn session(id: &str, source: &str) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            source: source.into(),
            ..SessionInfo::default()
        }
    }

    #[tokio::test]
    async fn own_sessions_need_no_lookup_and_failures_give_zero() {
        let metrics = Metrics::new();
        let mut own = session("req-1", GENERATED);
        assign(&Failing, &metrics, &mut own).await;
        assert_eq!(own.seq, 1);

        let mut named = session("s", "x-session-id");
        assign(&Failing, &metrics, &mut named).await;
        assert_eq!(named.seq, 0);
        assert_eq!(metrics.session_seq_fallbacks.get(), 1);

        let memory = MemorySequencer::default();
        for want in 1..=3 {
            let mut named = session("s", "x-session-id");
            assign(&memory, &metrics, &mut named).await;
            assert_eq!(named.seq, want);
        }
    }
}
