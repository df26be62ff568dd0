//! One `llm-proxy dispatcher` process, and `llm-proxy dispatcher status --json` run with its
//! environment.

use std::path::Path;
use std::time::Duration;

use crate::dispatcher_status::Status;
use crate::role_process::RoleProcess;
use crate::wait;

pub struct Dispatcher(RoleProcess);

impl Dispatcher {
    /// Starts `llm-proxy dispatcher` with `env` and waits for its `/readyz`.
    pub async fn start(name: &str, env: Vec<(String, String)>, dir: &Path) -> Self {
        Self(RoleProcess::start(name, &["dispatcher"], env, dir).await)
    }

    /// `/healthz`, `/readyz`, `/metrics`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// SIGKILL: nothing acknowledged, nothing flushed.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    pub fn log(&self) -> String {
        self.0.log()
    }

    /// Redis numbers and, while it runs, this dispatcher's `/metrics` counters.
    pub async fn status(&self) -> Status {
        Status::query(self.0.env()).await
    }

    /// Polls [`Self::status`] until every sink has acknowledged everything; panics with the
    /// last status after `timeout`.
    pub async fn wait_settled(&self, timeout: Duration) -> Status {
        let settled = wait::until(timeout, || async {
            let status = self.status().await;
            status.settled().then_some(status)
        })
        .await;
        match settled {
            Some(status) => status,
            None => panic!(
                "entries still pending or unread after {timeout:?}:\n{}",
                self.status().await.summary()
            ),
        }
    }
}
