//! Graceful drain (Kubernetes `terminationGracePeriodSeconds`, ECS stop timeout): on SIGTERM
//! readiness fails first, the listener closes after `server.drain_delay_secs`, and requests in
//! flight (streams included) get `server.shutdown_timeout_secs` to finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;

/// Whether this node is draining; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// `/readyz` answers 503 from now on and answers carry `Connection: close`.
    pub fn begin(&self) {
        if !self.0.swap(true, Ordering::SeqCst) {
            tracing::info!("draining: readiness is now false");
        }
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits for SIGTERM or SIGINT, then drains: every `drains` begins, `delay` passes, and the
/// server stops gracefully. For servers built with `disable_signals()`.
pub async fn on_signal(drains: Vec<Drain>, server: ServerHandle, delay: Duration) {
    if wait_for_signal().await.is_err() {
        return;
    }
    drain_now(drains, server, delay).await;
}

/// The drain itself, without waiting for a signal.
pub async fn drain_now(drains: Vec<Drain>, server: ServerHandle, delay: Duration) {
    for drain in &drains {
        drain.begin();
    }
    tokio::time::sleep(delay).await;
    tracing::info!("draining: no longer accepting connections; finishing requests in flight");
    server.stop(true).await;
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
