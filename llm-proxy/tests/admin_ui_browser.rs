//! The admin UI in a real headless browser, end to end: `llm-proxy up` (the real binary) in
//! front of a fake OpenAI upstream, driven by `admin-node/ui-tests/admin-flow.mjs` (npm
//! `playwright-core` with Debian's chromium): log in, create a project with its key, create a
//! token and read it off the page, call the proxy with it, revoke it in the UI, and see the
//! proxy refuse it with 401 `token_inactive`.
//!
//! Skipped with a note only when `node` is missing and `CI` is not set. Screenshots go to
//! `ADMIN_UI_SCREENSHOTS` when set (else a temporary directory).

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use llm_proxy_testkit::fake_upstream::FakeUpstream;

const MANAGEMENT_TOKEN: &str = "browser-test-management-token-0001";
const PROVIDER_KEY: &str = "sk-proj-browser-test-key-00009876";

fn ui_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("admin-node")
        .join("ui-tests")
}

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the server even when an assertion fails first.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn admin_ui_flow_in_a_real_browser() {
    if !have("node") {
        assert!(
            std::env::var_os("CI").is_none(),
            "node is required for the browser test in CI"
        );
        eprintln!("skipping the admin UI browser test: node is not installed");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ui_tests = ui_tests_dir();
    if !ui_tests.join("node_modules/playwright-core").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&ui_tests)
            .status()
            .await
            .unwrap();
        assert!(
            status.success(),
            "npm install in {} failed",
            ui_tests.display()
        );
    }

    let upstream = FakeUpstream::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = data_dir.path().join("llm-proxy.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_llm-proxy"));
    // Only the settings this test chooses: the test runner's own LLM_PROXY_* stay out.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LLM_PROXY_") {
            command.env_remove(name);
        }
    }
    let child = command
        .arg("up")
        .env("LLM_PROXY_DATA_DIR", data_dir.path())
        .env("LLM_PROXY_SERVER__PORT", port.to_string())
        .env("LLM_PROXY_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
        .env("LLM_PROXY_PROVIDERS__OPENAI__BASE_URL", upstream.base_url())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let base = format!("http://127.0.0.1:{port}");

    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = client.get(format!("{base}/healthz")).send().await {
            if res.status().is_success() {
                break;
            }
        }
        let exited = server.0.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "llm-proxy up did not start ({exited:?}): {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }

    let shots_dir = tempfile::tempdir().unwrap();
    let shots: PathBuf = std::env::var_os("ADMIN_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| shots_dir.path().to_path_buf());
    let output = tokio::process::Command::new("node")
        .arg("admin-flow.mjs")
        .current_dir(&ui_tests)
        .env("ADMIN_BASE_URL", &base)
        .env("LLM_PROXY_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
        .env("PROVIDER_KEY", PROVIDER_KEY)
        .env("SCREENSHOT_DIR", &shots)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "admin-flow.mjs failed ({}):\n{stdout}\n{stderr}\n--- llm-proxy log ---\n{}",
        output.status,
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    assert!(stdout.contains("admin-flow: ok"), "{stdout}");

    // The proxy swapped in the key stored through the UI; the client token never went upstream.
    let calls = upstream.requests();
    assert_eq!(
        calls.len(),
        1,
        "exactly the one admitted call reached the upstream"
    );
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    assert!(!calls[0].contains("wt_"));

    drop(server);
    upstream.stop().await;
}
