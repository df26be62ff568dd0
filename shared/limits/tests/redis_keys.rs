//! Redis-only behaviour: keys live under the prefix with the project's hash tag, prefixes are
//! isolated from each other, keys expire, and `build` wires settings to implementations.

#![allow(clippy::unwrap_used)]

use llm_proxy_limits::Admission;
use llm_proxy_limits::{
    AdmissionMode, AdmissionRequest, LimitKeys, LimitsConfig, RedisAdmission, Verdict,
    WINDOW_TRIM_PER_CALL,
};
use llm_proxy_testkit::redis_prefix::RedisPrefix;
use uuid::Uuid;

fn limited() -> AdmissionRequest {
    AdmissionRequest {
        token_id: Uuid::new_v4(),
        project_id: Uuid::new_v4(),
        max_requests: Some(100),
        used: 0,
        token_rpm: Some(2),
        project_rpm: Some(10),
        budget: None,
    }
}

fn node(prefix: &RedisPrefix) -> RedisAdmission {
    let keys = LimitKeys::new(prefix.prefix()).unwrap();
    RedisAdmission::open(prefix.url(), keys, LimitsConfig::default()).unwrap()
}

async fn keys_under(prefix: &RedisPrefix) -> Vec<String> {
    let client = redis::Client::open(prefix.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:*", prefix.prefix()))
            .query_async(&mut con)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn prefixes_are_isolated_and_keys_carry_the_project_tag() {
    let (a, b) = (RedisPrefix::unique(), RedisPrefix::unique());
    let (node_a, node_b) = (node(&a), node(&b));
    let req = limited();
    for _ in 0..2 {
        assert!(node_a.admit(&req).await.unwrap().is_admitted());
    }
    assert_ne!(node_a.admit(&req).await.unwrap().verdict, Verdict::Admitted);
    // The same token under another prefix is another deployment.
    assert!(node_b.admit(&req).await.unwrap().is_admitted());

    let mut keys = keys_under(&a).await;
    keys.sort();
    let tag = LimitKeys::hash_tag(req.project_id);
    let mut expected = vec![
        format!("{}:rl:{tag}:rpm", a.prefix()),
        format!("{}:rl:{tag}:t:{}:rpm", a.prefix(), req.token_id),
        format!("{}:rl:{tag}:t:{}:used", a.prefix(), req.token_id),
    ];
    expected.sort();
    assert_eq!(keys, expected);

    assert_eq!(a.cleanup().await.unwrap(), 3);
    assert_eq!(b.cleanup().await.unwrap(), 3);
}

#[tokio::test]
async fn keys_expire() {
    let prefix = RedisPrefix::unique();
    let admission = node(&prefix);
    let req = limited();
    assert!(admission.admit(&req).await.unwrap().is_admitted());

    let client = redis::Client::open(prefix.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys = admission.keys();
    let pttl = |key: String| {
        let mut con = con.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut con)
                .await
                .unwrap()
        }
    };
    let scope = keys.scope(req.project_id, req.token_id);
    let window = pttl(scope.token_window()).await;
    assert!((1..=60_000).contains(&window), "token window pttl {window}");
    let project = pttl(scope.project_window()).await;
    assert!(
        (1..=60_000).contains(&project),
        "project window pttl {project}"
    );
    let used = pttl(scope.token_used()).await;
    assert!(
        used > 60_000,
        "lifetime counter outlives the window: {used}"
    );
    let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
    prefix.cleanup().await.unwrap();
}

/// After a burst, everything it added expires at once: each admission removes a bounded number
/// of expired entries (no single call pays for all of them) and counts none of them.
#[tokio::test]
async fn expired_window_entries_leave_a_bounded_number_per_call_and_never_count() {
    let prefix = RedisPrefix::unique();
    let admission = node(&prefix);
    let req = AdmissionRequest {
        token_rpm: Some(3),
        project_rpm: None,
        ..limited()
    };
    let window = admission
        .keys()
        .scope(req.project_id, req.token_id)
        .token_window();
    let client = redis::Client::open(prefix.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let stale = 2 * WINDOW_TRIM_PER_CALL + 10;
    let mut seed = redis::cmd("ZADD");
    seed.arg(&window);
    for i in 1..=stale {
        seed.arg(i).arg(format!("old-{i}"));
    }
    let _: () = seed.query_async(&mut con).await.unwrap();
    let zcard = |con: redis::aio::MultiplexedConnection| {
        let window = window.clone();
        async move {
            let mut con = con;
            redis::cmd("ZCARD")
                .arg(window)
                .query_async::<usize>(&mut con)
                .await
                .unwrap()
        }
    };

    let mut left = stale;
    for remaining in [2, 1, 0] {
        let d = admission.admit(&req).await.unwrap();
        assert!(d.is_admitted(), "{d:?}");
        assert_eq!(
            d.rate.unwrap().remaining,
            remaining,
            "expired entries counted"
        );
        left -= left.min(WINDOW_TRIM_PER_CALL);
        assert_eq!(zcard(con.clone()).await, left + 3 - remaining as usize);
    }
    let refused = admission.admit(&req).await.unwrap();
    assert_eq!(
        refused.verdict,
        Verdict::RateLimited {
            scope: llm_proxy_limits::Scope::Token
        }
    );
    assert_eq!(zcard(con.clone()).await, 3);
    prefix.cleanup().await.unwrap();
}

#[tokio::test]
async fn build_picks_the_implementation_from_settings() {
    let mut settings = llm_proxy_platform::Settings::default();
    let memory = llm_proxy_limits::build(&settings).unwrap();
    assert_eq!(memory.health().mode, AdmissionMode::Memory);

    let prefix = RedisPrefix::unique();
    prefix.apply(&mut settings);
    let redis = llm_proxy_limits::build(&settings).unwrap();
    assert!(redis.admit(&limited()).await.unwrap().is_admitted());
    assert_eq!(redis.health().mode, AdmissionMode::Redis);
    assert_eq!(keys_under(&prefix).await.len(), 3);

    settings.redis.key_prefix = "bad{prefix".to_owned();
    assert!(llm_proxy_limits::build(&settings).is_err());
    prefix.cleanup().await.unwrap();
}
