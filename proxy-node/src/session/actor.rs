//! The session actor (embedded mode): owns the [`SessionBook`], so every call of a session is
//! placed one after another without a lock on the request path; forgets idle sessions on a
//! timer.

use std::time::{Duration, Instant};

use actix::prelude::*;
use async_trait::async_trait;

use super::book::SessionBook;
use super::chain::Chain;
use super::lineage::Placement;
use super::SessionTracker;
use crate::error::ProxyError;

const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub struct SessionActor {
    book: SessionBook,
}

impl SessionActor {
    pub fn new(book: SessionBook) -> Self {
        Self { book }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(PRUNE_EVERY, |actor, _| actor.book.prune(Instant::now()));
    }
}

#[derive(Message)]
#[rtype(result = "Placement")]
pub struct Place {
    pub session_id: String,
    pub chain: Option<Chain>,
}

impl Handler<Place> for SessionActor {
    type Result = MessageResult<Place>;

    fn handle(&mut self, msg: Place, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.book
                .place(&msg.session_id, msg.chain.as_ref(), Instant::now()),
        )
    }
}

/// The request path's handle on the session actor.
#[derive(Clone)]
pub struct MemoryTracker {
    addr: Addr<SessionActor>,
}

impl MemoryTracker {
    /// Starts the actor on the current arbiter; call inside an actix `System`.
    pub fn start(book: SessionBook) -> Self {
        Self {
            addr: SessionActor::new(book).start(),
        }
    }
}

#[async_trait]
impl SessionTracker for MemoryTracker {
    async fn place(
        &self,
        session_id: &str,
        chain: Option<&Chain>,
    ) -> Result<Placement, ProxyError> {
        self.addr
            .send(Place {
                session_id: session_id.to_owned(),
                chain: chain.cloned(),
            })
            .await
            .map_err(|e| ProxyError::Session(format!("session actor unavailable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use llm_proxy_core::event::Lineage;

    #[actix_rt::test]
    async fn concurrent_calls_of_one_session_get_distinct_numbers() {
        let tracker = MemoryTracker::start(SessionBook::default());
        let calls = (0..20).map(|_| tracker.place("s", None));
        let mut seqs: Vec<u64> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .map(|p| p.unwrap().seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

        let chain = Chain {
            hashes: vec![[1; 16]],
            server_state: false,
        };
        let p = tracker.place("t", Some(&chain)).await.unwrap();
        assert_eq!((p.seq, p.lineage), (1, Some(Lineage::New)));
    }
}
