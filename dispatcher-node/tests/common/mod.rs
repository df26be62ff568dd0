#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dispatcher_node::{Sink, SinkError};
use llm_proxy_core::event::RequestEvent;
use llm_proxy_core::SecretString;
use llm_proxy_platform::redis::{publish_events, KeySpace};
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_platform::Settings;
use llm_proxy_testkit::fake_sinks::{sample_event, HELICONE_TEST_KEY, LUNARY_TEST_KEY};
use uuid::Uuid;

/// Settings with fast timings, Redis at `url` under `prefix`, no sink enabled.
pub fn settings(url: &str, prefix: &str, data_dir: &Path) -> Settings {
    let mut s = Settings::default();
    s.redis.url = Some(SecretString::new(url));
    s.redis.key_prefix = prefix.to_owned();
    s.data_dir = data_dir.to_path_buf();
    s.server.port = 0;
    s.server.shutdown_timeout_secs = 1;
    s.node_name = Some("test-dispatcher".into());
    let d = &mut s.dispatcher;
    d.batch_size = 50;
    d.block_ms = 200;
    d.claim_idle_ms = 400;
    d.claim_interval_ms = 200;
    d.retry_base_ms = 20;
    d.retry_max_ms = 200;
    d.max_deliveries = 5;
    d.stats_interval_ms = 100;
    s
}

pub fn enable_file(s: &mut Settings, layout: FileLayout) {
    s.sinks.file.enabled = true;
    s.sinks.file.layout = layout;
}

pub fn enable_loki(s: &mut Settings, url: String) {
    s.sinks.loki.enabled = true;
    s.sinks.loki.url = url;
    s.sinks.loki.tenant = Some("tenant-1".into());
}

pub fn enable_lunary(s: &mut Settings, url: String) {
    s.sinks.lunary.enabled = true;
    s.sinks.lunary.url = url;
    s.sinks.lunary.key = Some(SecretString::new(LUNARY_TEST_KEY));
}

pub fn enable_helicone(s: &mut Settings, url: String) {
    s.sinks.helicone.enabled = true;
    s.sinks.helicone.url = url;
    s.sinks.helicone.key = Some(SecretString::new(HELICONE_TEST_KEY));
}

pub async fn publish(settings: &Settings, n: usize) -> Vec<RequestEvent> {
    let events: Vec<RequestEvent> = (0..n).map(|_| sample_event()).collect();
    publish_these(settings, &events).await;
    events
}

pub async fn publish_these(settings: &Settings, events: &[RequestEvent]) {
    let client = redis::Client::open(settings.redis.url.as_ref().unwrap().expose()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    publish_events(&mut conn, &KeySpace::from_settings(settings), events)
        .await
        .unwrap();
}

pub async fn xlen(settings: &Settings, key: &str) -> u64 {
    let client = redis::Client::open(settings.redis.url.as_ref().unwrap().expose()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Polls `check` every 25 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A sink that records event ids; optionally never answers (a dispatcher stuck mid-batch).
#[derive(Clone, Default)]
pub struct Recording {
    pub seen: Arc<Mutex<Vec<Uuid>>>,
    pub hang: bool,
}

impl Recording {
    pub fn ids(&self) -> Vec<Uuid> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait(?Send)]
impl Sink for Recording {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, batch: &[dispatcher_node::SharedEvent]) -> Result<(), SinkError> {
        self.seen.lock().unwrap().extend(batch.iter().map(|e| e.id));
        if self.hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// A redis-server of the test's own (fault tests never touch the shared one).
pub struct OwnRedis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = spawn_redis(port, dir.path());
        let redis = Self {
            child,
            port,
            _dir: dir,
        };
        wait_up(&redis.url()).await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SHUTDOWN, AOF flushed) and starts it again on the same port and dir.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_redis(self.port, self._dir.path());
        wait_up(&self.url()).await;
    }
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed")
}

async fn wait_up(url: &str) {
    let up = eventually(Duration::from_secs(10), || {
        let url = url.to_owned();
        async move {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                return false;
            };
            match client.get_multiplexed_async_connection().await {
                Ok(mut c) => redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(up, "own redis-server did not start");
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
