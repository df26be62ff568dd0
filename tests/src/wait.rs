//! Polling with a deadline instead of sleeping a guessed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Pause between two polls: short enough that measured times stay precise.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `check` until it returns `Some`, or `None` once `timeout` has passed.
pub async fn until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
