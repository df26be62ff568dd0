//! The event pipeline of one test: a proxy node publishing events to a Redis of the test's
//! own, dispatchers started on demand, the file sink and fake Loki, Lunary and Helicone; an
//! admin node on a fresh Postgres database for the project and token.

use std::path::PathBuf;
use std::time::Duration;

use llm_proxy_platform::EncryptionKey;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use llm_proxy_testkit::redis_server::RedisServer;
use tempfile::TempDir;

use crate::calls::{self, ChatCall};
use crate::client::{self, Reply};
use crate::db_guard::DatabaseGuard;
use crate::deliveries::Received;
use crate::dispatcher::Dispatcher;
use crate::dispatcher_status::Status;
use crate::manage::{Management, TestToken, TokenLimits};
use crate::node::{Deployment, Node, Policy, Role};
use crate::pipeline_env;
use crate::role_process::RoleProcess;
use crate::sinks::Sinks;
use crate::wait;

const PROXY: &str = "proxy-0";
pub use crate::pipeline_env::{BATCH_SIZE, CLAIM_IDLE};

#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Degraded by default: these tests are about events, and a call refused because a busy
    /// machine made an admission slow would only make them flaky.
    pub policy: Policy,
    /// Redis with an fsync-always AOF, so a restart keeps the streams and groups.
    pub persistent_redis: bool,
    /// The proxy's `events.spill_max_bytes` (its default when `None`).
    pub spill_max_bytes: Option<u64>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            policy: Policy::Degraded,
            persistent_redis: false,
            spill_max_bytes: None,
        }
    }
}

/// Fields drop in order: the nodes go before Redis and the directory.
pub struct Pipeline {
    proxy: RoleProcess,
    admin: Node,
    redis: RedisServer,
    sinks: Sinks,
    deployment: Deployment,
    token: TestToken,
    project_id: String,
    client: awc::Client,
    upstream: FakeUpstream,
    db: DatabaseGuard,
    dir: TempDir,
}

impl Pipeline {
    /// Starts everything but dispatchers and creates a project and a token. Call inside an
    /// actix `System`.
    pub async fn start(options: PipelineOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("llmp_events_")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let upstream = FakeUpstream::start().await;
        let db = DatabaseGuard::create().await;
        let redis = if options.persistent_redis {
            RedisServer::start_persistent().await
        } else {
            RedisServer::start().await
        };
        let sinks = Sinks::start().await;
        let deployment = Deployment {
            database_url: db.url().to_owned(),
            redis_url: redis.url(),
            key_prefix: format!("llmp_ev_{}", uuid::Uuid::new_v4().simple()),
            policy: options.policy,
            proxy_count: 1,
            encryption_key: EncryptionKey::generate().to_base64(),
            management_token: format!("mgmt_{}", uuid::Uuid::new_v4().simple()),
            upstream_base_url: upstream.base_url(),
        };
        let admin = Node::start(Role::Admin, "admin", &deployment, dir.path()).await;
        let proxy = RoleProcess::start(
            PROXY,
            &["proxy"],
            pipeline_env::proxy(&deployment, PROXY, &dir.path().join(PROXY), &options),
            dir.path(),
        )
        .await;
        let client = client::http_client();
        let manage = Management::new(
            admin.url(),
            deployment.management_token.clone(),
            client.clone(),
        );
        let project_id = manage.project().await;
        let token = manage.token(&project_id, TokenLimits::default()).await;
        Self {
            proxy,
            admin,
            redis,
            sinks,
            deployment,
            token,
            project_id,
            client,
            upstream,
            db,
            dir,
        }
    }

    /// The environment of a dispatcher named `name` (its host name, so its consumer name):
    /// all four sinks, short claim and retry times. Its file sink writes under
    /// [`Self::file_dir`], shared by every dispatcher of the pipeline like a common volume.
    pub fn dispatcher_env(&self, name: &str) -> Vec<(String, String)> {
        let mut env = pipeline_env::dispatcher(
            &self.deployment,
            name,
            &self.data_dir(name),
            &self.file_dir(),
        );
        env.extend(self.sinks.env());
        env
    }

    /// Starts a dispatcher with [`Self::dispatcher_env`] plus `overrides`.
    pub async fn start_dispatcher(&self, name: &str, overrides: &[(&str, &str)]) -> Dispatcher {
        let mut env = self.dispatcher_env(name);
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Dispatcher::start(name, env, self.dir.path()).await
    }

    /// `llm-proxy dispatcher status --json` with no dispatcher running (Redis numbers only).
    pub async fn status(&self) -> Status {
        let mut env = self.dispatcher_env("status");
        env.push(("LLM_PROXY_SERVER__PORT".to_owned(), "1".to_owned()));
        Status::query(&env).await
    }

    /// Waits until the event streams hold at least `n` entries (the proxy publishes in batches,
    /// after the calls returned).
    pub async fn wait_published(&self, n: u64) {
        let published = wait::until(Duration::from_secs(10), || async {
            let status = self.status().await;
            (status.stream_length() >= n).then_some(())
        })
        .await;
        assert!(
            published.is_some(),
            "fewer than {n} events in Redis: {}",
            self.status().await.0
        );
    }

    /// Where the file sink writes.
    pub fn file_dir(&self) -> PathBuf {
        self.dir.path().join("events")
    }

    /// The data directory of node or dispatcher `name`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Where the proxy node spills events while Redis is unavailable.
    pub fn spill_dir(&self) -> PathBuf {
        self.data_dir(PROXY).join("spill")
    }

    pub fn proxy_url(&self) -> String {
        self.proxy.url()
    }

    pub fn proxy_log(&self) -> String {
        self.proxy.log()
    }

    pub fn token(&self) -> &TestToken {
        &self.token
    }

    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    pub fn sinks(&self) -> &Sinks {
        &self.sinks
    }

    pub fn redis(&mut self) -> &mut RedisServer {
        &mut self.redis
    }

    pub fn client(&self) -> &awc::Client {
        &self.client
    }

    /// `call` through the proxy with the pipeline's token.
    pub async fn send(&self, call: &ChatCall) -> Reply {
        call.send(&self.client, &self.proxy.url(), &self.token.secret)
            .await
    }

    /// `n` plain calls at once through the proxy; answers their request ids.
    pub async fn burst(&self, prefix: &str, n: usize) -> Vec<String> {
        calls::burst(
            &self.client,
            &self.proxy.url(),
            &self.token.secret,
            prefix,
            n,
        )
        .await
    }

    /// What the four sinks hold now.
    pub fn received(&self) -> Received {
        Received::now(&self.sinks, &self.file_dir())
    }

    /// Waits until `done` holds for what the sinks hold; panics with a summary after
    /// `timeout`.
    pub async fn wait_received(
        &self,
        timeout: Duration,
        what: &str,
        expected: &[String],
        done: impl Fn(&Received) -> bool,
    ) -> Received {
        let reached = wait::until(timeout, || async {
            let received = self.received();
            done(&received).then_some(received)
        })
        .await;
        reached.unwrap_or_else(|| {
            panic!(
                "{what}: not within {timeout:?}\n{}\nrejected by the fakes: {:?}",
                self.received().summary(expected),
                self.sinks.rejections()
            )
        })
    }

    /// Stops every process and drops the database (async work in `Drop` never runs).
    pub async fn stop(self) {
        let Self {
            proxy,
            admin,
            redis,
            sinks,
            upstream,
            db,
            dir,
            ..
        } = self;
        drop(proxy);
        drop(admin);
        drop(redis);
        sinks.stop().await;
        upstream.stop().await;
        db.drop_db().await;
        drop(dir);
    }
}
