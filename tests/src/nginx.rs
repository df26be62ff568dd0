//! nginx (the Debian package) as the load balancer in front of the proxy nodes: round robin
//! over HTTP/1.1 keep-alive connections, unbuffered so streams pass through as they arrive,
//! and `/_node/<i>/…` pinned to node `i` for tests that must know where a stream runs.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::child::ChildProcess;
use crate::ports;

const START_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: usize = 3;

pub struct Nginx {
    port: u16,
    // Stopped on drop (gracefully, so its workers exit too).
    _process: ChildProcess,
}

impl Nginx {
    /// Starts nginx on a free port in front of `backends` (ports on 127.0.0.1).
    pub fn start(dir: &Path, backends: &[u16]) -> Self {
        if let Err(e) = std::fs::create_dir_all(dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        for _ in 0..ATTEMPTS {
            let port = ports::free_port();
            let conf = dir.join("nginx.conf");
            if let Err(e) = std::fs::write(&conf, config(dir, port, backends)) {
                panic!("cannot write {}: {e}", conf.display());
            }
            let mut process = ChildProcess::spawn("nginx", command(dir, &conf), dir)
                .with_graceful_stop(stop_command(dir, &conf));
            match wait_listening(&mut process, port) {
                Ok(()) => {
                    return Self {
                        port,
                        _process: process,
                    }
                }
                Err(log) if ports::looks_like_port_clash(&log) => continue,
                Err(log) => panic!("nginx did not start:\n{log}"),
            }
        }
        panic!("nginx found no free port in {ATTEMPTS} attempts");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Through nginx, always to node `index`.
    pub fn pinned_url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}/_node/{index}", self.port)
    }
}

/// `nginx` from `PATH`, or `/usr/sbin` (not on every user's `PATH`).
fn program() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("nginx is not installed; scripts/test.sh installs it (`apt-get install nginx`)")
        })
}

/// Everything nginx would otherwise read or write under /etc, /var/log or /var/lib is in `dir`.
fn globals(dir: &Path) -> String {
    format!(
        "daemon off; pid {}; error_log stderr;",
        dir.join("nginx.pid").display()
    )
}

fn command(dir: &Path, conf: &Path) -> Command {
    let mut command = Command::new(program());
    command
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf)
        .arg("-g")
        .arg(globals(dir));
    command
}

fn stop_command(dir: &Path, conf: &Path) -> Command {
    let mut command = self::command(dir, conf);
    command.args(["-s", "stop"]);
    command
}

fn wait_listening(process: &mut ChildProcess, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if process.exited().is_some() {
            return Err(process.log_tail(20));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "not listening within {START_TIMEOUT:?}\n{}",
        process.log_tail(20)
    ))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The nginx configuration. `proxy_next_upstream error timeout` (nginx's default, spelled out)
/// moves a request to the next node when connecting fails; a POST already sent is never
/// replayed, so an LLM call cannot run twice.
pub fn config(dir: &Path, port: u16, backends: &[u16]) -> String {
    let mut conf = String::new();
    if running_as_root() {
        // Workers would otherwise run as `nobody`, who cannot enter the test's private dir.
        conf.push_str("user root;\n");
    }
    conf.push_str("worker_processes 1;\nworker_rlimit_nofile 8192;\n");
    conf.push_str("events { worker_connections 4096; }\n");
    conf.push_str("http {\n  access_log off;\n");
    for (directive, name) in [
        ("client_body_temp_path", "client_body"),
        ("proxy_temp_path", "proxy"),
        ("fastcgi_temp_path", "fastcgi"),
        ("uwsgi_temp_path", "uwsgi"),
        ("scgi_temp_path", "scgi"),
    ] {
        let _ = writeln!(conf, "  {directive} {};", temp_path(dir, name).display());
    }
    conf.push_str("  upstream proxies {\n");
    for port in backends {
        let _ = writeln!(
            conf,
            "    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;"
        );
    }
    conf.push_str("    keepalive 64;\n  }\n");
    for (i, port) in backends.iter().enumerate() {
        let _ = writeln!(
            conf,
            "  upstream node{i} {{\n    server 127.0.0.1:{port};\n    keepalive 8;\n  }}"
        );
    }
    let _ = writeln!(
        conf,
        "  server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 16m;"
    );
    let _ = writeln!(
        conf,
        "    location / {{\n      proxy_pass http://proxies;\n{}    }}",
        PROXY_SETTINGS
    );
    for i in 0..backends.len() {
        let _ = writeln!(
            conf,
            "    location /_node/{i}/ {{\n      proxy_pass http://node{i}/;\n{}    }}",
            PROXY_SETTINGS
        );
    }
    conf.push_str("  }\n}\n");
    conf
}

const PROXY_SETTINGS: &str = "      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_connect_timeout 2s;
      proxy_read_timeout 300s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
";
