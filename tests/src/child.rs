//! A child process that cannot outlive its test: output goes to a log file, the process is
//! stopped on drop, and a failing test prints the end of every log.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Lines of each log printed when a test fails.
const TAIL_LINES: usize = 40;
const GRACEFUL_STOP: Duration = Duration::from_secs(5);

pub struct ChildProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// Run to stop gracefully (nginx: its workers outlive a SIGKILLed master).
    graceful_stop: Option<Command>,
}

impl ChildProcess {
    /// Starts `command` with stdout and stderr appended to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let file = open_log(&log);
        let stderr = file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share {}: {e}", log.display()));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
            graceful_stop: None,
        }
    }

    /// Stops with `command` (then waits, then SIGKILL) instead of SIGKILL alone.
    pub fn with_graceful_stop(mut self, command: Command) -> Self {
        self.graceful_stop = Some(command);
        self
    }

    /// `Some(status)` once the process has exited.
    /// Polls `{base_url}/readyz` until it answers 2xx; fails with the log's tail if the process
    /// exits first or `timeout` passes.
    pub async fn wait_ready(&mut self, base_url: &str, timeout: Duration) -> Result<(), String> {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let url = format!("{base_url}/readyz");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("exited with {status}\n{}", self.log_tail(30)));
            }
            if let Ok(response) = client.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "/readyz not 200 within {timeout:?}\n{}",
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(crate::wait::POLL_INTERVAL).await;
        }
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful stop when one is configured, SIGKILL otherwise (or when it does not exit).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(command) = self.graceful_stop.as_mut() {
            let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
            let deadline = Instant::now() + GRACEFUL_STOP;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of {} ({}) -----\n{}",
                self.name,
                self.log.display(),
                self.log_tail(TAIL_LINES)
            );
        }
    }
}

fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log {}: {e}", path.display()))
}
