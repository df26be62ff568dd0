//! One arbiter (thread) per sink: a slow or blocking sink never holds up another. The sink is
//! built on its own thread (sinks need not be `Send`) and handed to the loop that feeds it.

use std::future::Future;

use actix_rt::Arbiter;
use tokio::sync::oneshot;

use crate::sink::{Sink, SinkSpec};

pub(crate) struct SinkThread {
    pub name: &'static str,
    pub arbiter: Arbiter,
    /// Resolves when the loop has returned (or the sink could not be built).
    pub done: oneshot::Receiver<()>,
}

/// Builds the sink of `spec` on a new arbiter and runs `feed` with it there.
pub(crate) fn spawn<F, Fut>(spec: SinkSpec, feed: F) -> SinkThread
where
    F: FnOnce(Box<dyn Sink>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let name = spec.name;
    let factory = spec.factory;
    let arbiter = Arbiter::new();
    let (done_tx, done) = oneshot::channel();
    arbiter.spawn_fn(move || {
        actix_rt::spawn(async move {
            match factory() {
                Ok(sink) => feed(sink).await,
                Err(e) => tracing::error!(sink = name, error = %e, "cannot start sink"),
            }
            let _ = done_tx.send(());
        });
    });
    SinkThread {
        name,
        arbiter,
        done,
    }
}
