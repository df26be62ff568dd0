//! Sessions (DESIGN §6): the id from the client ([`extract`]); per session, a sequence number
//! that increases across every proxy node and the call's lineage (`new`, `continuation` or
//! `fork` with its parent), from the canonical hashes of its message prefixes ([`chain`],
//! [`lineage`]); and a digest of what the call added ([`digest`]).
//!
//! The state lives in the session actor in embedded mode ([`MemoryTracker`]) and on Redis when
//! `redis.url` is set ([`RedisTracker`]). It is kept per session id only: calls of two
//! sessions are never related, however alike their messages.

mod actor;
mod book;
mod canonical;
pub mod chain;
mod digest;
mod extract;
pub mod lineage;
mod redis;

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use async_trait::async_trait;
use llm_proxy_core::event::{Lineage, SessionInfo};
use llm_proxy_platform::Settings;
use serde_json::Value;

use crate::error::ProxyError;
use crate::metrics::Metrics;

pub use actor::{MemoryTracker, SessionActor};
pub use book::SessionBook;
pub use chain::{Chain, Conversation};
pub use extract::{extract, GENERATED};
pub use lineage::Placement;
pub use redis::{RedisTracker, SessionKeys};

/// A session's state lives this long after its last call.
pub const SESSION_TTL_SECS: u64 = 24 * 3600;

/// Places calls in their sessions.
#[async_trait]
pub trait SessionTracker: Send + Sync {
    /// The call's sequence number (1, 2, 3, … per session) and, when it carries a
    /// conversation, its lineage.
    async fn place(&self, session_id: &str, chain: Option<&Chain>)
        -> Result<Placement, ProxyError>;
}

pub type DynSessionTracker = Arc<dyn SessionTracker>;

/// Redis when `redis.url` is set (no I/O here: it connects on first use), else the session
/// actor, started on the current arbiter (call inside an actix `System`).
pub fn build(settings: &Settings) -> Result<DynSessionTracker, ProxyError> {
    Ok(match &settings.redis.url {
        None => Arc::new(MemoryTracker::start(SessionBook::default())),
        Some(url) => Arc::new(RedisTracker::new(
            url.expose(),
            SessionKeys::from_settings(settings),
        )?),
    })
}

/// One call as sessions see it: its id and, for a conversation, the prefix hashes.
#[derive(Debug)]
pub struct Turn<'a> {
    info: SessionInfo,
    conversation: Option<Conversation<'a>>,
    chain: Option<Chain>,
}

impl<'a> Turn<'a> {
    /// `path` is the path sent upstream; `body` the request's JSON, if it is JSON.
    pub fn read(
        headers: &HeaderMap,
        body: Option<&'a Value>,
        path: &str,
        request_id: &str,
    ) -> Self {
        let info = extract(headers, body, request_id);
        let conversation = Conversation::read(path, body);
        // A call that is its own session has nothing to compare with.
        let chain = conversation
            .as_ref()
            .filter(|_| info.source != GENERATED)
            .map(Conversation::chain);
        Self {
            info,
            conversation,
            chain,
        }
    }
}

/// The call's session fields. A call that is its own session is its first call and needs no
/// lookup; a tracker that fails gives seq 0 and no lineage (never fails the request).
/// `secret` (the client's token) is masked in the turn digest.
pub async fn assign(
    tracker: &dyn SessionTracker,
    metrics: &Metrics,
    turn: Turn<'_>,
    secret: Option<&str>,
) -> SessionInfo {
    let Turn {
        mut info,
        conversation,
        chain,
    } = turn;
    let placement = if info.source == GENERATED || info.id.is_empty() {
        Placement {
            seq: 1,
            lineage: conversation
                .as_ref()
                .filter(|c| !c.items.is_empty())
                .map(|_| Lineage::New),
            ..Placement::default()
        }
    } else {
        match tracker.place(&info.id, chain.as_ref()).await {
            Ok(placement) => placement,
            Err(e) => {
                tracing::debug!(error = %e, "no session placement; using seq 0");
                metrics.session_seq_fallbacks.inc();
                Placement::default()
            }
        }
    };
    info.seq = placement.seq;
    info.lineage = placement.lineage.map(|l| l.as_str().to_owned());
    info.parent_seq = placement.parent_seq;
    info.turn = conversation.map(|c| digest::turn(&c.items, placement.shared_items, secret));
    info
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    struct Failing;

    #[async_trait]
    impl SessionTracker for Failing {
        async fn place(&self, _: &str, _: Option<&Chain>) -> Result<Placement, ProxyError> {
            Err(ProxyError::Redis("down".into()))
        }
    }

    fn turn<'a>(session: Option<&str>, body: &'a Value) -> Turn<'a> {
        let mut req = TestRequest::default();
        if let Some(s) = session {
            req = req.insert_header(("x-session-id", s));
        }
        Turn::read(
            req.to_http_request().headers(),
            Some(body),
            "/v1/chat/completions",
            "req-1",
        )
    }

    #[actix_rt::test]
    async fn own_sessions_need_no_lookup_and_failures_give_zero() {
        let metrics = Metrics::new();
        let body = json!({"messages": [{"role": "user", "content": "hi"}]});
        let own = assign(&Failing, &metrics, turn(None, &body), None).await;
        assert_eq!(
            (own.seq, own.lineage.as_deref(), own.id.as_str()),
            (1, Some("new"), "req-1")
        );
        assert_eq!(own.turn.unwrap().added.len(), 1);

        let named = assign(&Failing, &metrics, turn(Some("s"), &body), None).await;
        assert_eq!((named.seq, named.lineage), (0, None));
        assert_eq!(metrics.session_seq_fallbacks.get(), 1);

        let memory = MemoryTracker::start(SessionBook::default());
        let first = assign(&memory, &metrics, turn(Some("s"), &body), None).await;
        assert_eq!((first.seq, first.lineage.as_deref()), (1, Some("new")));
        let longer = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "and now?"}
        ]});
        let second = assign(&memory, &metrics, turn(Some("s"), &longer), None).await;
        assert_eq!(
            (second.seq, second.lineage.as_deref(), second.parent_seq),
            (2, Some("continuation"), Some(1))
        );
        let digest = second.turn.unwrap();
        assert_eq!((digest.messages, digest.added.len()), (3, 2));
    }
}
