//! One arbiter (thread) per sink: a slow or blocking sink never holds up another. The sink is
//! built on its own thread (sinks need not be `Send`) and handed to the loop that feeds it.
//!
//! In embedded mode the sink threads share the process with the request workers; with
//! [`SinkScheduling::Idle`] the arbiter thread and every thread of its blocking pool (where
//! the file writes and fsyncs run) are `SCHED_IDLE`, so they take a core only when no request
//! needs it. A sink that falls far behind that way would starve for as long as the gateway is
//! busy and end up dropping what its spill cannot hold, so its loop raises it back to the
//! workers' class ([`SinkClass::keep_up`]) until it has caught up.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};

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

/// Builds the sink of `spec` on a new arbiter and runs `feed` with it there, in `scheduling`
/// unless the spec keeps its priority.
pub(crate) fn spawn<F, Fut>(spec: SinkSpec, scheduling: SinkScheduling, feed: F) -> SinkThread
where
    F: FnOnce(Box<dyn Sink>, SinkClass) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let name = spec.name;
    let factory = spec.factory;
    let class = SinkClass::new(if spec.keeps_priority {
        SinkScheduling::Normal
    } else {
        scheduling
    });
    let arbiter = arbiter(name, &class);
    let (done_tx, done) = oneshot::channel();
    arbiter.spawn_fn(move || {
        class.join();
        actix_rt::spawn(async move {
            match factory() {
                Ok(sink) => feed(sink, class).await,
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

/// An arbiter whose runtime's blocking-pool threads join `class` as they start.
fn arbiter(name: &'static str, class: &SinkClass) -> Arbiter {
    if !class.lowered() {
        return Arbiter::new();
    }
    let (starting, stopping) = (class.clone(), class.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || starting.join())
        .on_thread_stop(move || stopping.leave())
        .build();
    match runtime {
        Ok(runtime) => Arbiter::with_tokio_rt(move || runtime),
        Err(e) => {
            tracing::warn!(sink = name, error = %e, "cannot build the sink thread's runtime; it runs at normal priority");
            Arbiter::new()
        }
    }
}

/// The scheduling class of one sink's threads: `SCHED_IDLE` when the sinks are lowered, except
/// while the sink is raised to keep up. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SinkClass {
    inner: Arc<ClassInner>,
}

struct ClassInner {
    lowered: bool,
    raised: AtomicBool,
    /// The sink's live threads; changed, and their class set, under this lock.
    threads: Mutex<Vec<os::Thread>>,
}

impl SinkClass {
    fn new(scheduling: SinkScheduling) -> Self {
        Self {
            inner: Arc::new(ClassInner {
                lowered: scheduling == SinkScheduling::Idle,
                raised: AtomicBool::new(false),
                threads: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lowered(&self) -> bool {
        self.inner.lowered
    }

    /// Whether the sink's threads currently run at the workers' priority although lowered.
    fn is_raised(&self) -> bool {
        self.inner.raised.load(Ordering::Relaxed)
    }

    /// The calling thread becomes one of the sink's: it takes the class in force.
    fn join(&self) {
        if !self.lowered() {
            return;
        }
        let mut threads = self.threads();
        let me = os::current();
        if !self.is_raised() {
            report(os::set_idle(me, true));
        }
        threads.push(me);
    }

    fn leave(&self) {
        let me = os::current();
        self.threads().retain(|t| *t != me);
    }

    /// Raises the sink's threads once its spill holds `spill_bytes` ≥ `raise_at`, and lowers
    /// them again once the spill is empty.
    pub fn keep_up(&self, spill_bytes: u64, raise_at: u64) {
        if !self.lowered() {
            return;
        }
        let raise = match (self.is_raised(), spill_bytes) {
            (false, bytes) if bytes >= raise_at => true,
            (true, 0) => false,
            _ => return,
        };
        let threads = self.threads();
        self.inner.raised.store(raise, Ordering::Relaxed);
        for thread in threads.iter() {
            report(os::set_idle(*thread, !raise));
        }
        if raise {
            tracing::warn!(
                spill_bytes,
                "a sink fell behind while the gateway is busy: it competes with the request workers until it catches up"
            );
        } else {
            tracing::info!("the sink caught up: it yields to the request workers again");
        }
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, Vec<os::Thread>> {
        self.inner
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Changing a sink thread's own class needs no privilege; should it fail anyway (a seccomp
/// profile), the thread keeps running as it is.
fn report(result: Result<(), String>) {
    if let Err(e) = result {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            tracing::warn!(error = %e, "cannot change the sink threads' scheduling class; they run as they are");
        });
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityOsValue};

    pub type Thread = thread_priority::unix::ThreadId;

    pub fn current() -> Thread {
        thread_native_id()
    }

    /// `SCHED_IDLE` or `SCHED_OTHER` for `thread` (a thread of this process). Nice 0 is passed
    /// because the library also applies it to the calling thread, always one of the sink's.
    pub fn set_idle(thread: Thread, idle: bool) -> Result<(), String> {
        let policy = if idle {
            NormalThreadSchedulePolicy::Idle
        } else {
            NormalThreadSchedulePolicy::Other
        };
        set_thread_priority_and_policy(
            thread,
            ThreadPriority::Os(ThreadPriorityOsValue::default()),
            ThreadSchedulePolicy::Normal(policy),
        )
        .map_err(|e| format!("{e:?}"))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod os {
    pub type Thread = std::thread::ThreadId;

    pub fn current() -> Thread {
        std::thread::current().id()
    }

    pub fn set_idle(_thread: Thread, _idle: bool) -> Result<(), String> {
        Err("SCHED_IDLE exists on Linux only".to_owned())
    }
}
