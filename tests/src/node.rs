//! One `llm-proxy admin` or `llm-proxy proxy` process, configured only through the environment
//! the way a container would be.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::child::ChildProcess;
use crate::{binary, ports};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: usize = 3;

/// `redis.unavailable_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    FailClosed,
    Degraded,
}

impl Policy {
    fn setting(self) -> &'static str {
        match self {
            Policy::FailClosed => "fail_closed",
            Policy::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Proxy,
}

impl Role {
    fn command(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Proxy => "proxy",
        }
    }
}

/// What every node of one deployment shares.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub database_url: String,
    pub redis_url: String,
    pub key_prefix: String,
    pub policy: Policy,
    /// Proxy nodes in the fleet (each enforces its share of a limit while degraded).
    pub proxy_count: usize,
    pub encryption_key: String,
    pub management_token: String,
    pub upstream_base_url: String,
}

impl Deployment {
    fn environment(&self, name: &str, port: u16, data_dir: &Path) -> Vec<(String, String)> {
        [
            ("DATABASE__URL", self.database_url.clone()),
            ("DATABASE__MAX_CONNECTIONS", "4".to_owned()),
            ("REDIS__URL", self.redis_url.clone()),
            ("REDIS__KEY_PREFIX", self.key_prefix.clone()),
            (
                "REDIS__UNAVAILABLE_POLICY",
                self.policy.setting().to_owned(),
            ),
            ("REDIS__DEGRADED_NODE_COUNT", self.proxy_count.to_string()),
            ("ENCRYPTION_KEY", self.encryption_key.clone()),
            ("MANAGEMENT_TOKEN", self.management_token.clone()),
            (
                "PROVIDERS__OPENAI__BASE_URL",
                self.upstream_base_url.clone(),
            ),
            ("SERVER__HOST", "127.0.0.1".to_owned()),
            ("SERVER__PORT", port.to_string()),
            ("SERVER__WORKERS", "2".to_owned()),
            ("SERVER__SHUTDOWN_TIMEOUT_SECS", "1".to_owned()),
            ("TOKEN_CACHE__FLUSH_INTERVAL_MS", "200".to_owned()),
            ("DATA_DIR", data_dir.display().to_string()),
            ("NODE_NAME", name.to_owned()),
            ("TELEMETRY__LEVEL", "info".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("LLM_PROXY_{key}"), value))
        .collect()
    }
}

pub struct Node {
    port: u16,
    process: ChildProcess,
}

impl Node {
    /// Starts the role on a free port and waits for its `/readyz`.
    pub async fn start(role: Role, name: &str, deployment: &Deployment, dir: &Path) -> Self {
        let data_dir = dir.join(name);
        if let Err(e) = std::fs::create_dir_all(&data_dir) {
            panic!("cannot create {}: {e}", data_dir.display());
        }
        for _ in 0..ATTEMPTS {
            let port = ports::free_port();
            let mut command = Command::new(binary::llm_proxy());
            command.arg(role.command());
            for (key, _) in std::env::vars() {
                if key.starts_with("LLM_PROXY_") {
                    command.env_remove(key);
                }
            }
            command.env_remove("RUST_LOG").env("NO_COLOR", "1");
            command.envs(deployment.environment(name, port, &data_dir));
            let mut node = Self {
                port,
                process: ChildProcess::spawn(name, command, dir),
            };
            match node.wait_ready().await {
                Ok(()) => return node,
                Err(log) if ports::looks_like_port_clash(&log) => continue,
                Err(log) => panic!("{name} ({}) did not become ready:\n{log}", role.command()),
            }
        }
        panic!("{name} found no free port in {ATTEMPTS} attempts");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no graceful shutdown, connections cut mid-stream.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = self.url();
        self.process.wait_ready(&url, READY_TIMEOUT).await
    }
}
