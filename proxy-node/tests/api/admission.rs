//! Token admission: revocation takes effect at once, `max_requests` is exact under concurrency
//! (in memory, and on Redis across two nodes), counted requests reach the store off the request
//! path, warm tokens come from memory.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use llm_proxy_core::token::TokenUpdate;
use proxy_node::ProxyParts;

use crate::helpers::{spawn_app, spawn_redis_app, TestApp};

#[actix_web::test]
async fn revoked_token_is_rejected_on_the_very_next_request() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let body = TestApp::chat_body(false);

    // Warm the cache.
    for _ in 0..2 {
        let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
        assert_eq!(s, 200);
    }
    app.revoke(&seeded.token).await;
    let (s, _, b) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "token_inactive");
    assert_eq!(app.upstream.request_count(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn max_requests_is_exact_under_50_concurrent_requests() {
    let app = spawn_app().await;
    let seeded = app.seed_with(Some(7)).await;
    let body = TestApp::chat_body(false);
    let bearer = seeded.bearer();

    let answers = join_all((0..50).map(|_| app.send_json(app.chat(&bearer), &body))).await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let refused = answers
        .iter()
        .filter(|(s, _, b)| *s == 429 && b["error"]["code"] == "quota_exceeded")
        .count();
    assert_eq!(ok, 7, "admitted");
    assert_eq!(refused, 43, "refused");
    assert_eq!(app.upstream.request_count(), 7);

    // The counts reach the store.
    app.state.usage.flush().await;
    let token = app
        .store
        .get_token(seeded.token.id)
        .await
        .unwrap_or_else(|e| panic!("get token: {e}"));
    assert_eq!(token.request_count, 7);
    assert!(token.last_used_at.is_some());
    app.stop().await;
}

#[actix_web::test]
async fn counts_survive_a_cache_eviction_and_a_raised_limit_applies() {
    let app = spawn_app().await;
    let seeded = app.seed_with(Some(1)).await;
    let body = TestApp::chat_body(false);
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 200);
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 429);

    // Raise the limit as the management API would: update, then publish.
    let update = TokenUpdate {
        max_requests: Some(Some(2)),
        ..TokenUpdate::default()
    };
    app.store
        .update_token(
            seeded.token.id,
            update,
            &llm_proxy_core::audit::AuditContext::system("test"),
        )
        .await
        .unwrap_or_else(|e| panic!("update: {e}"));
    app.control
        .publish(llm_proxy_core::control::ControlEvent::TokenChanged {
            token_id: seeded.token.id,
        });
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 200);
    let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
    assert_eq!(s, 429);
    assert_eq!(app.upstream.request_count(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn warm_tokens_are_served_from_the_cache() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let body = TestApp::chat_body(false);
    for _ in 0..3 {
        let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
        assert_eq!(s, 200);
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("llm_proxy_token_cache_misses_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llm_proxy_token_cache_hits_total 2"),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn max_requests_is_exact_across_two_nodes_on_redis() {
    let first = spawn_redis_app(|_, _| {}, ProxyParts::default()).await;
    let second = first.spawn_peer(ProxyParts::default());
    assert_eq!(
        first.state.admission.health().mode,
        llm_proxy_limits::AdmissionMode::Redis
    );
    let seeded = first.seed_with(Some(20)).await;
    let body = TestApp::chat_body(false);
    let bearer = seeded.bearer();

    let answers = join_all((0..60).map(|i| {
        let node = if i % 2 == 0 { &first } else { &second };
        node.send_json(node.chat(&bearer), &body)
    }))
    .await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let refused = answers
        .iter()
        .filter(|(s, _, b)| *s == 429 && b["error"]["code"] == "quota_exceeded")
        .count();
    assert_eq!(ok, 20, "admitted");
    assert_eq!(refused, 40, "refused");
    assert_eq!(first.upstream.request_count(), 20);

    // Each node writes back what it admitted; together they are the exact count.
    first.state.usage.flush().await;
    second.state.usage.flush().await;
    let token = first
        .store
        .get_token(seeded.token.id)
        .await
        .unwrap_or_else(|e| panic!("get token: {e}"));
    assert_eq!(token.request_count, 20);
    second.stop().await;
    first.stop().await;
}

#[actix_web::test]
async fn request_counts_are_written_back_by_the_timer() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let body = TestApp::chat_body(false);
    for _ in 0..5 {
        let (s, _, _) = app.send_json(app.chat(&seeded.bearer()), &body).await;
        assert_eq!(s, 200);
    }
    // No explicit flush: the 50 ms timer writes the batch.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let token = app
            .store
            .get_token(seeded.token.id)
            .await
            .unwrap_or_else(|e| panic!("get token: {e}"));
        if token.request_count == 5 && token.last_used_at.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "request_count is {} after 10 s",
            token.request_count
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}
