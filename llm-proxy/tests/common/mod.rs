//! A real `llm-proxy` server process for the CLI tests: a role on a free port with its own data
//! directory, and the built binary run against it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const MANAGEMENT_TOKEN: &str = "cli-test-management-token-000123";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with none of the test runner's own `LLM_PROXY_*` settings.
pub fn llm_proxy() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llm-proxy"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LLM_PROXY_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

/// A running server process; killed on drop even when an assertion failed first.
pub struct Node {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl Node {
    /// `llm-proxy <role>` with the management token, on a free port, serving once `/healthz`
    /// answers 200.
    pub fn start(role: &str, data_dir: &Path, env: &[(&str, String)]) -> Node {
        let port = free_port();
        let log = data_dir.join(format!("{role}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = llm_proxy();
        command
            .arg(role)
            .env("LLM_PROXY_DATA_DIR", data_dir)
            .env("LLM_PROXY_SERVER__PORT", port.to_string())
            .env("LLM_PROXY_SERVER__WORKERS", "2")
            .env("LLM_PROXY_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut node = Node {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/healthz").map(|(status, _)| status) != Some(200) {
            let exited = node.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "llm-proxy {role} did not start ({exited:?}): {}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The management CLI against this node: `llm-proxy <args> --url <base>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        llm_proxy()
            .args(args)
            .args(["--url", &self.base])
            .env("LLM_PROXY_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// SIGTERM, then waits for the exit (a graceful stop flushes events).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking `GET` (status and body), `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Succeeded; its stdout.
#[track_caller]
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(output)
}

/// Succeeded with JSON on stdout.
#[track_caller]
pub fn ok_json(output: &Output) -> serde_json::Value {
    let text = ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Failed with exactly one stderr line, `llm-proxy: error: …` containing `needle`.
#[track_caller]
pub fn fails_with(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected a failure: {}",
        stdout(output)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("llm-proxy: error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected `{needle}` in: {stderr}"
    );
}
