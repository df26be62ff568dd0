//! The usage writer actor: every `token_cache.flush_interval_ms` it takes the requests the
//! `Admission` counted since the last time ([`Admission::drain_usage`]) and writes them to the
//! store in one batch (`request_count`, `last_used_at`), off the request path. A failed batch is
//! kept and merged into the next one; [`UsageWriterHandle::flush`] (and shutdown) writes
//! everything counted so far.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use llm_proxy_core::token::TokenUsage;
use llm_proxy_limits::DynAdmission;
use llm_proxy_store::{DynStore, StoreError};
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct UsageWriter {
    admission: DynAdmission,
    store: DynStore,
    every: Duration,
    /// Counted but not yet written (a batch whose write failed).
    unwritten: Vec<TokenUsage>,
    writing: bool,
    /// Answered when the batch being written now is done.
    waiting: Vec<oneshot::Sender<()>>,
    /// Asked while a batch was being written: answered after the next one.
    queued: Vec<oneshot::Sender<()>>,
    stopping: bool,
}

impl UsageWriter {
    pub fn new(admission: DynAdmission, store: DynStore, flush_interval_ms: u64) -> Self {
        Self {
            admission,
            store,
            every: Duration::from_millis(flush_interval_ms.max(10)),
            unwritten: Vec::new(),
            writing: false,
            waiting: Vec::new(),
            queued: Vec::new(),
            stopping: false,
        }
    }

    fn take_batch(&mut self) -> Vec<TokenUsage> {
        let unwritten = std::mem::take(&mut self.unwritten);
        merge(unwritten, self.admission.drain_usage())
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        let batch = self.take_batch();
        if batch.is_empty() {
            self.done(ctx);
            return;
        }
        self.writing = true;
        let store = self.store.clone();
        let fut = async move { write(&store, batch).await };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.writing = false;
            if let Err((e, batch)) = result {
                if act.stopping {
                    tracing::error!(error = %e, tokens = batch.len(), "lost token usage counts at shutdown");
                } else {
                    tracing::warn!(error = %e, tokens = batch.len(), "cannot write token usage; will retry");
                    act.unwritten = merge(std::mem::take(&mut act.unwritten), batch);
                }
            }
            act.done(ctx);
        }));
    }

    fn done(&mut self, ctx: &mut Context<Self>) {
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(());
        }
        if !self.queued.is_empty() {
            self.waiting = std::mem::take(&mut self.queued);
            self.flush(ctx);
        } else if self.stopping {
            ctx.stop();
        }
    }
}

/// One batched write; hands the batch back when it failed.
pub async fn write(
    store: &DynStore,
    batch: Vec<TokenUsage>,
) -> Result<(), (StoreError, Vec<TokenUsage>)> {
    match store.record_token_usage(&batch).await {
        Ok(()) => Ok(()),
        Err(e) => Err((e, batch)),
    }
}

/// Adds up two lists of usage, per token.
pub fn merge(a: Vec<TokenUsage>, b: Vec<TokenUsage>) -> Vec<TokenUsage> {
    if a.is_empty() {
        return b;
    }
    let mut by_token: HashMap<Uuid, TokenUsage> = HashMap::with_capacity(a.len() + b.len());
    for usage in a.into_iter().chain(b) {
        by_token
            .entry(usage.token_id)
            .and_modify(|u| {
                u.requests += usage.requests;
                u.last_used_at = u.last_used_at.max(usage.last_used_at);
            })
            .or_insert(usage);
    }
    by_token.into_values().collect()
}

impl Actor for UsageWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.every, |act, ctx| act.flush(ctx));
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        if self.stopping {
            return if self.writing {
                Running::Continue
            } else {
                Running::Stop
            };
        }
        self.unwritten = self.take_batch();
        if self.unwritten.is_empty() && !self.writing {
            return Running::Stop;
        }
        self.stopping = true;
        self.flush(ctx);
        Running::Continue
    }
}

/// Writes everything counted so far; answers when done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushUsage;

impl Handler<FlushUsage> for UsageWriter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: FlushUsage, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.writing {
            self.queued.push(tx);
        } else {
            self.waiting.push(tx);
            self.flush(ctx);
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[derive(Clone)]
pub struct UsageWriterHandle {
    addr: Addr<UsageWriter>,
}

impl UsageWriterHandle {
    pub fn start(writer: UsageWriter) -> Self {
        Self {
            addr: writer.start(),
        }
    }

    /// Writes every request counted before this call to the store.
    pub async fn flush(&self) {
        let _ = self.addr.send(FlushUsage).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::{Duration as TimeDelta, Utc};

    fn usage(token_id: Uuid, requests: u64, seconds_ago: i64) -> TokenUsage {
        TokenUsage {
            token_id,
            requests,
            last_used_at: Utc::now() - TimeDelta::seconds(seconds_ago),
        }
    }

    #[test]
    fn merge_adds_requests_and_keeps_the_latest_use() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let latest = usage(a, 2, 0);
        let merged = merge(vec![usage(a, 3, 10), usage(b, 1, 5)], vec![latest.clone()]);
        let find = |id| merged.iter().find(|u| u.token_id == id).unwrap();
        assert_eq!(find(a).requests, 5);
        assert_eq!(find(a).last_used_at, latest.last_used_at);
        assert_eq!(find(b).requests, 1);
        assert_eq!(merge(Vec::new(), vec![latest.clone()]), vec![latest]);
    }
}
