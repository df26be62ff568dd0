//! Redis going away under load, on a redis-server this test starts itself on a free port (never
//! the machine's shared one): the configured policy is what happens, and the same
//! `GuardedAdmission` goes back to Redis by itself when it answers again.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_proxy_limits::{
    Admission, AdmissionMode, AdmissionRequest, Decision, GuardedAdmission, LimitKeys,
    LimitsConfig, LimitsError, RedisAdmission, Scope, UnavailablePolicy, Verdict,
};
use tokio::process::{Child, Command};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(15);

/// A redis-server of this test's own, without persistence, in a temporary directory.
struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server must be installed for the fault tests");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<()>(&mut con).await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the harshest way to lose Redis.
    async fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }
}

fn guarded(server: &RedisServer, policy: UnavailablePolicy) -> Arc<GuardedAdmission> {
    let config = LimitsConfig {
        redis_timeout: Duration::from_millis(200),
        probe_min: Duration::from_millis(50),
        probe_max: Duration::from_millis(200),
        unavailable_policy: policy,
        degraded_node_count: 3,
        ..LimitsConfig::default()
    };
    let keys = LimitKeys::new("llmp_fault").unwrap();
    let redis = RedisAdmission::open(&server.url(), keys, config.clone()).unwrap();
    Arc::new(GuardedAdmission::new(redis, config))
}

fn request() -> AdmissionRequest {
    AdmissionRequest {
        token_id: Uuid::new_v4(),
        project_id: Uuid::new_v4(),
        max_requests: None,
        used: 0,
        token_rpm: None,
        project_rpm: None,
        budget: None,
    }
}

/// Admits until `done` says so, polling with a deadline.
async fn poll_until(
    admission: &GuardedAdmission,
    req: &AdmissionRequest,
    what: &str,
    done: impl Fn(&Result<Decision, LimitsError>) -> bool,
) -> Result<Decision, LimitsError> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let result = admission.admit(req).await;
        if done(&result) {
            return result;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Background traffic: a few tasks admitting in a loop, counting what they were told.
struct Load {
    stop: Arc<AtomicBool>,
    exact: Arc<AtomicU64>,
    degraded: Arc<AtomicU64>,
    unavailable: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(admission: Arc<GuardedAdmission>) -> Self {
        let load = Self {
            stop: Arc::default(),
            exact: Arc::default(),
            degraded: Arc::default(),
            unavailable: Arc::default(),
            tasks: Vec::new(),
        };
        let tasks = (0..4)
            .map(|_| {
                let admission = admission.clone();
                let (stop, exact, degraded, unavailable) = (
                    load.stop.clone(),
                    load.exact.clone(),
                    load.degraded.clone(),
                    load.unavailable.clone(),
                );
                let req = AdmissionRequest {
                    token_rpm: Some(1_000_000),
                    ..request()
                };
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match admission.admit(&req).await {
                            Ok(d) if d.degraded => degraded.fetch_add(1, Ordering::Relaxed),
                            Ok(_) => exact.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                assert!(e.is_unavailable(), "{e}");
                                unavailable.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            })
            .collect();
        Self { tasks, ..load }
    }

    /// Waits until the load has seen `n` more answers of the kind `counter` counts.
    async fn wait_for(&self, counter: &AtomicU64, n: u64) {
        let target = counter.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + DEADLINE;
        while counter.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "the load stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.exact.load(Ordering::Relaxed),
            self.degraded.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_closed_refuses_while_redis_is_down_and_recovers_by_itself() {
    let mut server = RedisServer::start().await;
    let admission = guarded(&server, UnavailablePolicy::FailClosed);
    let req = AdmissionRequest {
        max_requests: Some(1000),
        ..request()
    };
    assert!(admission.admit(&req).await.unwrap().is_admitted());
    assert_eq!(admission.health().mode, AdmissionMode::Redis);

    let load = Load::start(admission.clone());
    load.wait_for(&load.exact, 20).await;
    server.stop().await;

    poll_until(&admission, &req, "fail_closed to refuse", |r| {
        matches!(r, Err(LimitsError::Unavailable(_)))
    })
    .await
    .unwrap_err();
    // Each failed call is refused; three failures in a row switch the mode.
    for _ in 0..3 {
        if admission.health().mode == AdmissionMode::Unavailable {
            break;
        }
        assert!(admission.admit(&req).await.unwrap_err().is_unavailable());
    }
    let health = admission.health();
    assert_eq!(health.mode, AdmissionMode::Unavailable);
    assert_eq!(health.outages, 1);
    load.wait_for(&load.unavailable, 20).await;
    assert!(admission.redis().ping().await.is_err());
    for _ in 0..10 {
        assert!(admission.admit(&req).await.unwrap_err().is_unavailable());
    }

    server.restart().await;
    // The same object, no rebuild: it finds Redis again on its own (the new server has no
    // scripts loaded, so this also goes through EVALSHA's NOSCRIPT fallback).
    let d = poll_until(&admission, &req, "Redis to be used again", |r| r.is_ok())
        .await
        .unwrap();
    admission.redis().ping().await.unwrap();
    assert!(d.is_admitted() && !d.degraded);
    assert_eq!(admission.health().mode, AdmissionMode::Redis);
    load.wait_for(&load.exact, 20).await;
    let (exact, degraded, unavailable) = load.stop().await;
    assert!(exact >= 40 && unavailable >= 20, "{exact} {unavailable}");
    assert_eq!(degraded, 0, "fail_closed never decides alone");

    // This Redis lost everything: the counter starts again from the store's count.
    let caught_up = AdmissionRequest { used: 900, ..req };
    let d = admission.admit(&caught_up).await.unwrap();
    assert_eq!(d.quota.unwrap().used, 901);
    let health = admission.health();
    assert_eq!((health.outages, health.degraded_decisions), (1, 0));
    assert!(health.unavailable_errors >= 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn degraded_enforces_this_nodes_share_and_recovers_by_itself() {
    let mut server = RedisServer::start().await;
    let admission = guarded(&server, UnavailablePolicy::Degraded);
    let probe = request();
    assert!(!admission.admit(&probe).await.unwrap().degraded);

    let load = Load::start(admission.clone());
    load.wait_for(&load.exact, 20).await;
    server.stop().await;

    poll_until(&admission, &probe, "a degraded decision", |r| {
        r.as_ref().is_ok_and(|d| d.degraded)
    })
    .await
    .unwrap();
    // Each failed call is decided by the policy; three failures in a row switch the mode.
    for _ in 0..3 {
        if admission.health().mode == AdmissionMode::Degraded {
            break;
        }
        assert!(admission.admit(&probe).await.unwrap().degraded);
    }
    let health = admission.health();
    assert_eq!(health.mode, AdmissionMode::Degraded);
    assert_eq!(health.outages, 1);
    load.wait_for(&load.degraded, 20).await;

    // 60 rpm over 3 nodes: this node admits its 20, and says so.
    let token = AdmissionRequest {
        token_rpm: Some(60),
        ..request()
    };
    let decisions = admit_concurrently(&admission, &token, 100).await;
    assert!(decisions.iter().all(|d| d.degraded));
    let admitted = decisions.iter().filter(|d| d.is_admitted()).count();
    assert_eq!(admitted, 20);
    for d in decisions.iter().filter(|d| !d.is_admitted()) {
        assert_eq!(
            d.verdict,
            Verdict::RateLimited {
                scope: Scope::Token
            }
        );
        assert_eq!(d.rate.unwrap().limit, 20);
        assert!(d
            .headers()
            .contains(&("x-llm-proxy-degraded", "1".to_owned())));
    }
    // A lifetime quota of 90 with 30 used: this node's share of the 60 left is 20.
    let quota = AdmissionRequest {
        max_requests: Some(90),
        used: 30,
        ..request()
    };
    let decisions = admit_concurrently(&admission, &quota, 50).await;
    assert_eq!(decisions.iter().filter(|d| d.is_admitted()).count(), 20);

    server.restart().await;
    poll_until(&admission, &probe, "Redis to be used again", |r| {
        r.as_ref().is_ok_and(|d| !d.degraded)
    })
    .await
    .unwrap();
    assert_eq!(admission.health().mode, AdmissionMode::Redis);
    // Exact again, across the fleet: the full 60.
    let fresh = AdmissionRequest {
        token_rpm: Some(60),
        ..request()
    };
    let decisions = admit_concurrently(&admission, &fresh, 100).await;
    assert!(decisions.iter().all(|d| !d.degraded));
    assert_eq!(decisions.iter().filter(|d| d.is_admitted()).count(), 60);

    load.wait_for(&load.exact, 20).await;
    let (exact, degraded, unavailable) = load.stop().await;
    assert!(exact >= 40 && degraded >= 20, "{exact} {degraded}");
    assert_eq!(unavailable, 0, "degraded never refuses for want of Redis");

    // Requests admitted while degraded are written back like the others.
    let usage = admission.drain_usage();
    let of = |id| usage.iter().find(|u| u.token_id == id).map(|u| u.requests);
    assert_eq!(of(token.token_id), Some(20));
    assert_eq!(of(fresh.token_id), Some(60));
    assert!(admission.health().degraded_decisions >= 170);
}

#[tokio::test]
async fn the_script_is_loaded_again_after_script_flush() {
    let server = RedisServer::start().await;
    let admission = guarded(&server, UnavailablePolicy::FailClosed);
    let req = AdmissionRequest {
        max_requests: Some(3),
        ..request()
    };
    assert!(admission.admit(&req).await.unwrap().is_admitted());
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut con)
        .await
        .unwrap();
    let d = admission.admit(&req).await.unwrap();
    assert_eq!(d.quota.unwrap().used, 2);
    assert_eq!(admission.health().outages, 0);
}

async fn admit_concurrently(
    admission: &Arc<GuardedAdmission>,
    req: &AdmissionRequest,
    n: usize,
) -> Vec<Decision> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (admission, req) = (admission.clone(), req.clone());
            tokio::spawn(async move { admission.admit(&req).await.unwrap() })
        })
        .collect();
    let mut decisions = Vec::with_capacity(n);
    for task in tasks {
        decisions.push(task.await.unwrap());
    }
    decisions
}

fn budgeted(project_id: Uuid, max_tokens: u64) -> AdmissionRequest {
    AdmissionRequest {
        project_id,
        budget: Some(llm_proxy_limits::BudgetAsk {
            project: Some(llm_proxy_limits::BudgetLimit {
                period: "life".into(),
                resets_at: None,
                max_tokens: Some(max_tokens),
                max_cost_nano_usd: None,
                spent: llm_proxy_core::budget::Spend::new(300, 0),
            }),
            prompt_tokens: 10,
            min_output: 10,
            max_output: 10,
            ..Default::default()
        }),
        ..request()
    }
}

/// Budgets while Redis is away: a degraded node spends its share of what the ledger says is
/// left, settles those reservations in its own memory, lets a stream reserved on Redis go on,
/// and charges that stream's real usage to Redis once it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn degraded_budgets_spend_a_share_and_settle_where_they_were_made() {
    let mut server = RedisServer::start().await;
    let admission = guarded(&server, UnavailablePolicy::Degraded);
    let project = Uuid::new_v4();
    // 300 of 900 spent per the ledger; 20 per call.
    let req = budgeted(project, 900);
    let on_redis = admission.admit(&req).await.unwrap();
    assert!(!on_redis.degraded);
    let mut stream = on_redis.reservation.unwrap();

    server.stop().await;
    let first = poll_until(&admission, &req, "a degraded decision", |r| {
        r.as_ref().is_ok_and(|d| d.degraded)
    })
    .await
    .unwrap();
    // A third of the 600 left: 200 for this node, so 10 calls of 20 in all.
    let mut admitted = vec![first];
    for _ in 0..20 {
        let d = admission.admit(&req).await.unwrap();
        assert!(d.degraded);
        if d.is_admitted() {
            admitted.push(d);
        }
    }
    assert_eq!(admitted.len(), 10);
    // Settling a degraded reservation with nothing used frees its room on this node.
    admission
        .settle(
            admitted[0].reservation.as_ref().unwrap(),
            Default::default(),
        )
        .await
        .unwrap();
    assert!(admission.admit(&req).await.unwrap().is_admitted());
    // The stream reserved on Redis is not cut for Redis being away.
    assert_eq!(
        admission.extend(&mut stream, 1, 50).await.unwrap(),
        Some(50)
    );
    assert_eq!(
        stream.reserved.tokens, 20,
        "nothing was counted for it meanwhile"
    );

    server.restart().await;
    poll_until(&admission, &req, "Redis again", |r| {
        r.as_ref().is_ok_and(|d| !d.degraded)
    })
    .await
    .unwrap();
    // This Redis kept nothing across its restart: its counter starts again from the ledger's
    // 300, plus 20 for the call that found it back. The stream used 70 of the 20 it reserved:
    // settling charges the 50 more.
    admission
        .settle(&stream, llm_proxy_core::budget::Spend::new(70, 0))
        .await
        .unwrap();
    let probe = admission.admit(&budgeted(project, 900)).await.unwrap();
    let left = probe.budget.unwrap().remaining_tokens.unwrap();
    assert_eq!(left, 900 - 300 - 20 - 50 - 20);
}
