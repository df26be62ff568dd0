//! Redis goes away under load: the configured policy is what happens; Redis comes back: every
//! node returns to exact, shared limits without a restart.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use llm_proxy_e2e::load::Load;
use llm_proxy_e2e::{wait, Fleet, FleetOptions, Policy, Reply, Tally, TestToken, TokenLimits};

/// How long a node may take to notice Redis is gone, and to notice it is back.
const NOTICE: Duration = Duration::from_secs(10);
/// Limits high enough never to be reached, so every admission needs Redis.
const LIMITS: TokenLimits = TokenLimits {
    max_requests: Some(1_000_000),
    rate_limit_rpm: Some(100_000),
};

#[actix_web::test]
async fn fail_closed_refuses_with_503_while_redis_is_down_and_recovers_without_restart() {
    let mut fleet = Fleet::start(FleetOptions {
        policy: Policy::FailClosed,
        ..FleetOptions::default()
    })
    .await;
    let token = setup(&fleet).await;
    let load = Load::start(fleet.client(), &fleet.lb_url(), &token.secret);

    fleet.redis().stop();
    let down = every_node_until(&fleet, &token, |r| {
        r.status == 503 && r.code().as_deref() == Some("limits_unavailable")
    })
    .await;
    println!("fail_closed: every node refused within {down:?} of Redis going away");
    let during = Tally::of(&burst(&fleet, &token).await);
    assert_eq!(
        during.count("503 limits_unavailable"),
        during.total(),
        "while Redis is down: {during}"
    );

    fleet.redis().start_again().await;
    assert_recovers(&fleet, &token).await;

    let background = load.finish().await;
    assert_eq!(
        background.count("200 -") + background.count("503 limits_unavailable"),
        background.total(),
        "only admissions and the policy's refusals under load: {background}"
    );
    fleet.stop().await;
}

#[actix_web::test]
async fn degraded_keeps_serving_marked_while_redis_is_down_and_recovers_without_restart() {
    let mut fleet = Fleet::start(FleetOptions {
        policy: Policy::Degraded,
        ..FleetOptions::default()
    })
    .await;
    let token = setup(&fleet).await;
    let load = Load::start(fleet.client(), &fleet.lb_url(), &token.secret);

    fleet.redis().stop();
    let down = every_node_until(&fleet, &token, |r| {
        r.is_upstream_success() && r.is_degraded()
    })
    .await;
    println!("degraded: every node marked its answers within {down:?} of Redis going away");
    for reply in burst(&fleet, &token).await {
        assert!(
            reply.is_upstream_success() && reply.is_degraded(),
            "while Redis is down: {} {:?}",
            reply.outcome(),
            reply.header("x-llm-proxy-degraded")
        );
    }

    fleet.redis().start_again().await;
    assert_recovers(&fleet, &token).await;

    let background = load.finish().await;
    assert_eq!(
        background.count("200 -"),
        background.total(),
        "nothing fails under load: {background}"
    );
    fleet.stop().await;
}

/// A token admitted normally (through Redis) by every node.
async fn setup(fleet: &Fleet) -> TestToken {
    let project = fleet.manage().project().await;
    let token = fleet.manage().token(&project, LIMITS).await;
    for url in fleet.node_urls() {
        let reply = fleet.chat(&url, &token.secret).await;
        assert!(
            reply.is_upstream_success() && !reply.is_degraded(),
            "{url} before the outage: {}",
            reply.outcome()
        );
    }
    token
}

/// Polls each node directly until `done` holds for its answer; panics after [`NOTICE`].
/// Answers the slowest node's time.
async fn every_node_until(fleet: &Fleet, token: &TestToken, done: fn(&Reply) -> bool) -> Duration {
    let started = Instant::now();
    for url in fleet.node_urls() {
        loop {
            let reply = fleet.chat(&url, &token.secret).await;
            if done(&reply) {
                break;
            }
            assert!(
                started.elapsed() < NOTICE,
                "{url} did not get there within {NOTICE:?}; last answer: {} {:?}",
                reply.outcome(),
                reply.header("x-llm-proxy-degraded")
            );
            tokio::time::sleep(wait::POLL_INTERVAL).await;
        }
    }
    started.elapsed()
}

/// 30 calls at once through nginx.
async fn burst(fleet: &Fleet, token: &TestToken) -> Vec<Reply> {
    let lb = fleet.lb_url();
    join_all((0..30).map(|_| fleet.chat(&lb, &token.secret))).await
}

/// Every node admits normally again (no degraded mark) without having been restarted.
async fn assert_recovers(fleet: &Fleet, token: &TestToken) {
    let back = every_node_until(fleet, token, |r| {
        r.is_upstream_success() && !r.is_degraded()
    })
    .await;
    println!("every node admitted through Redis again within {back:?} of its restart");
    for reply in burst(fleet, token).await {
        assert!(
            reply.is_upstream_success() && !reply.is_degraded(),
            "after recovery: {} {:?}",
            reply.outcome(),
            reply.header("x-llm-proxy-degraded")
        );
    }
}
