//! One `llm-proxy <role>` process configured only through the environment, the way a
//! container is: a free port, a log file, ready once its `/readyz` answers 200.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::child::ChildProcess;
use crate::{binary, ports};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: usize = 3;

pub struct RoleProcess {
    port: u16,
    env: Vec<(String, String)>,
    process: ChildProcess,
}

impl RoleProcess {
    /// Starts `llm-proxy <args>` with `env` (`LLM_PROXY_*`; later entries win) plus
    /// `server.port`, logging to `<dir>/<name>.log`, and waits for its `/readyz`.
    pub async fn start(name: &str, args: &[&str], env: Vec<(String, String)>, dir: &Path) -> Self {
        for _ in 0..ATTEMPTS {
            let port = ports::free_port();
            let mut env = env.clone();
            env.push(("LLM_PROXY_SERVER__PORT".to_owned(), port.to_string()));
            let process = ChildProcess::spawn(name, llm_proxy(args, &env), dir);
            let mut role = Self { port, env, process };
            match role.wait_ready().await {
                Ok(()) => return role,
                Err(log) if ports::looks_like_port_clash(&log) => continue,
                Err(log) => panic!("{name} ({args:?}) did not become ready:\n{log}"),
            }
        }
        panic!("{name} found no free port in {ATTEMPTS} attempts");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment it runs with, `server.port` included.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// SIGKILL: nothing acknowledged, nothing flushed.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = self.url();
        self.process.wait_ready(&url, READY_TIMEOUT).await
    }
}

/// `llm-proxy <args>` with exactly `env` of the `LLM_PROXY_*` variables.
pub fn llm_proxy(args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary::llm_proxy());
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("LLM_PROXY_") {
            command.env_remove(key);
        }
    }
    command.env_remove("RUST_LOG").env("NO_COLOR", "1");
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}
