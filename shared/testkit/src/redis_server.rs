//! A `redis-server` of the test's own on a free port, so fault tests can kill and restart it
//! without touching the machine's shared Redis (DESIGN §11).
//!
//! ```ignore
//! let mut redis = RedisServer::start().await;
//! redis.stop();               // SIGKILL: Redis is gone
//! redis.start_again().await;  // same port; empty unless started with `start_persistent`
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    persistent: bool,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server without persistence: a restart comes back empty.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// Starts a server with an fsync-always append-only file: a restart keeps every key.
    pub async fn start_persistent() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(persistent: bool) -> Self {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut server = Self {
                port: free_port(),
                persistent,
                dir: match tempfile::tempdir() {
                    Ok(dir) => dir,
                    Err(e) => panic!("cannot create a directory for redis-server: {e}"),
                },
                child: None,
            };
            match server.spawn().await {
                Ok(()) => return server,
                Err(log) if log.contains("Address already in use") => last_log = log,
                Err(log) => panic!("redis-server did not start:\n{log}"),
            }
        }
        panic!("redis-server found no free port in {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: the server vanishes the way a crashed or partitioned Redis does.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        if let Err(log) = self.spawn().await {
            panic!("redis-server did not restart on port {}:\n{log}", self.port);
        }
    }

    /// [`Self::stop`] then [`Self::start_again`].
    pub async fn restart(&mut self) {
        self.stop();
        self.start_again().await;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Spawns and waits for PONG; on failure, answers the end of the server's log.
    async fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Err(format!("redis-server must be installed: {e}")),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}\n{}", self.log_tail()));
            }
            if ping(&self.url()).await {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "no PONG within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_ok()
}
