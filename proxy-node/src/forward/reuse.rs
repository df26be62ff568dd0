//! Whether an upstream attempt ran on a connection from the pool or opened its own. awc does not
//! say, so the connector marks the attempt's task whenever it opens a connection.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static OPENED: Cell<bool>;
}

/// Called by the connector for each new connection.
pub fn mark_opened() {
    // Outside `tracking` (no attempt is watching) there is nothing to mark.
    let _ = OPENED.try_with(|opened| opened.set(true));
}

/// Runs `attempt`; the flag says whether it opened a new connection (else it reused one).
pub async fn tracking<F: Future>(attempt: F) -> (F::Output, bool) {
    OPENED
        .scope(Cell::new(false), async {
            let output = attempt.await;
            (output, OPENED.with(Cell::get))
        })
        .await
}
