//! One arbiter (thread) per sink: a slow or blocking sink never holds up another. The sink is
//! built on its own thread (sinks need not be `Send`) and handed to the loop that feeds it.
//!
//! In embedded mode the sink threads share the process with the request workers; with
//! [`SinkScheduling::Idle`] the arbiter thread and every thread of its blocking pool (where
//! the file writes, fsyncs and spill I/O run) are `SCHED_IDLE`, so they take a core only when
//! no request needs it.

use std::future::Future;
use std::sync::Once;

use actix_rt::Arbiter;
use llm_proxy_platform::settings::SinkScheduling;
use tokio::sync::oneshot;

use crate::sink::{Sink, SinkSpec};

pub(crate) struct SinkThread {
    pub name: &'static str,
    pub arbiter: Arbiter,
    /// Resolves when the loop has returned (or the sink could not be built).
    pub done: oneshot::Receiver<()>,
}

/// Builds the sink of `spec` on a new arbiter and runs `feed` with it there.
pub(crate) fn spawn<F, Fut>(spec: SinkSpec, scheduling: SinkScheduling, feed: F) -> SinkThread
where
    F: FnOnce(Box<dyn Sink>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let name = spec.name;
    let factory = spec.factory;
    let arbiter = arbiter(name, scheduling);
    let (done_tx, done) = oneshot::channel();
    arbiter.spawn_fn(move || {
        apply(scheduling);
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

/// An arbiter whose runtime puts each blocking-pool thread in `scheduling` as it starts.
fn arbiter(name: &'static str, scheduling: SinkScheduling) -> Arbiter {
    if scheduling == SinkScheduling::Normal {
        return Arbiter::new();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || apply(scheduling))
        .build();
    match runtime {
        Ok(runtime) => Arbiter::with_tokio_rt(move || runtime),
        Err(e) => {
            tracing::warn!(sink = name, error = %e, "cannot build the sink thread's runtime; it runs at normal priority");
            Arbiter::new()
        }
    }
}

/// Puts the calling thread in `scheduling`. Lowering a thread's own class needs no privilege;
/// should it fail anyway (a seccomp profile), the thread keeps running as it is.
fn apply(scheduling: SinkScheduling) {
    if scheduling == SinkScheduling::Normal {
        return;
    }
    if let Err(e) = lower_current_thread() {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            tracing::warn!(error = %e, "cannot lower the sink threads' scheduling class; they compete with the request workers");
        });
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn lower_current_thread() -> Result<(), String> {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .map_err(|e| format!("{e:?}"))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lower_current_thread() -> Result<(), String> {
    Err("SCHED_IDLE exists on Linux only".to_owned())
}
