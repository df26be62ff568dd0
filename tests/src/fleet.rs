//! The whole distributed deployment of one test: a fresh Postgres database, its own Redis, a
//! fake OpenAI upstream, one admin node, N proxy nodes and nginx in front of them.

use std::path::Path;

use llm_proxy_platform::EncryptionKey;
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use llm_proxy_testkit::redis_server::RedisServer;
use tempfile::TempDir;

use crate::client::{self, Reply};
use crate::db_guard::DatabaseGuard;
use crate::manage::Management;
use crate::nginx::Nginx;
use crate::node::{Deployment, Node, Policy, Role};

#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    pub policy: Policy,
    pub proxies: usize,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            policy: Policy::FailClosed,
            proxies: 3,
        }
    }
}

/// Fields drop in order: the load balancer and nodes go before Redis and the directory.
pub struct Fleet {
    nginx: Nginx,
    proxies: Vec<Node>,
    admin: Node,
    redis: RedisServer,
    manage: Management,
    client: awc::Client,
    upstream: FakeUpstream,
    db: DatabaseGuard,
    dir: TempDir,
}

impl Fleet {
    /// Starts everything and waits until every node is ready. Call inside an actix `System`.
    pub async fn start(options: FleetOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("llmp_e2e_")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let upstream = FakeUpstream::start().await;
        // Unmigrated: the admin node migrates it at start, as in production.
        let db = DatabaseGuard::create().await;
        let redis = RedisServer::start().await;
        let deployment = Deployment {
            database_url: db.url().to_owned(),
            redis_url: redis.url(),
            key_prefix: format!("llmp_e2e_{}", uuid::Uuid::new_v4().simple()),
            policy: options.policy,
            proxy_count: options.proxies,
            encryption_key: EncryptionKey::generate().to_base64(),
            management_token: format!("mgmt_{}", uuid::Uuid::new_v4().simple()),
            upstream_base_url: upstream.base_url(),
        };
        let admin = Node::start(Role::Admin, "admin", &deployment, dir.path()).await;
        let proxies = start_proxies(&deployment, options.proxies, dir.path()).await;
        let ports: Vec<u16> = proxies.iter().map(Node::port).collect();
        let nginx = Nginx::start(&dir.path().join("nginx"), &ports);
        let client = client::http_client();
        let manage = Management::new(
            admin.url(),
            deployment.management_token.clone(),
            client.clone(),
        );
        let fleet = Self {
            nginx,
            proxies,
            admin,
            redis,
            manage,
            client,
            upstream,
            db,
            dir,
        };
        fleet.wait_balancer().await;
        fleet
    }

    /// Through nginx, round robin over the proxies.
    pub fn lb_url(&self) -> String {
        self.nginx.url()
    }

    /// Through nginx, always to proxy `index`.
    pub fn pinned_url(&self, index: usize) -> String {
        self.nginx.pinned_url(index)
    }

    /// Proxy `index` directly.
    pub fn node_url(&self, index: usize) -> String {
        self.proxies[index].url()
    }

    pub fn node_urls(&self) -> Vec<String> {
        self.proxies.iter().map(Node::url).collect()
    }

    pub fn admin_url(&self) -> String {
        self.admin.url()
    }

    pub fn proxy_count(&self) -> usize {
        self.proxies.len()
    }

    /// SIGKILL proxy `index`.
    pub fn kill_proxy(&mut self, index: usize) {
        self.proxies[index].kill();
    }

    pub fn redis(&mut self) -> &mut RedisServer {
        &mut self.redis
    }

    pub fn manage(&self) -> &Management {
        &self.manage
    }

    pub fn client(&self) -> &awc::Client {
        &self.client
    }

    pub fn upstream(&self) -> &FakeUpstream {
        &self.upstream
    }

    /// A chat call against `base` (the balancer or one node).
    pub async fn chat(&self, base: &str, secret: &str) -> Reply {
        client::chat(&self.client, base, secret).await
    }

    /// Stops every process and drops the database (async work in `Drop` never runs).
    pub async fn stop(self) {
        let Self {
            nginx,
            proxies,
            admin,
            redis,
            upstream,
            db,
            dir,
            ..
        } = self;
        drop(nginx);
        drop(proxies);
        drop(admin);
        drop(redis);
        upstream.stop().await;
        db.drop_db().await;
        drop(dir);
    }

    async fn wait_balancer(&self) {
        let url = format!("{}/healthz", self.lb_url());
        let ready = crate::wait::until(std::time::Duration::from_secs(10), || async {
            let response = self.client.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        assert!(ready.is_some(), "nginx did not reach a proxy at {url}");
    }
}

async fn start_proxies(deployment: &Deployment, count: usize, dir: &Path) -> Vec<Node> {
    let names: Vec<String> = (0..count).map(|i| format!("proxy-{i}")).collect();
    futures_util::future::join_all(
        names
            .iter()
            .map(|name| Node::start(Role::Proxy, name, deployment, dir)),
    )
    .await
}
