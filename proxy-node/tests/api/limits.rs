//! Request rates and the Redis-unavailable policies, as a client sees them: 429 with
//! `Retry-After` and `x-ratelimit-*`, the same headers on admitted answers, 503
//! `limits_unavailable` under `fail_closed`, `x-llm-proxy-degraded: 1` under `degraded`.

use awc::http::header::HeaderMap;
use llm_proxy_limits::UnavailablePolicy;
use proxy_node::ProxyParts;
use serde_json::json;

use crate::helpers::{assert_error, closed_redis_url, spawn_app, spawn_app_with, TestApp};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn number(headers: &HeaderMap, name: &str) -> u64 {
    header(headers, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name} in {headers:?}"))
}

#[actix_web::test]
async fn token_rpm_refuses_the_fourth_request_with_retry_after_and_ratelimit_headers() {
    let app = spawn_app().await;
    let project = app.create_project("rpm-token").await;
    let (secret, _) = app
        .create_token_with_rpm(project.id, None, None, Some(3))
        .await;
    let bearer = format!("Bearer {}", secret.expose());
    let body = TestApp::chat_body(false);

    for remaining in [2, 1, 0] {
        let (s, h, b) = app.send_json(app.chat(&bearer), &body).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(number(&h, "x-ratelimit-limit"), 3);
        assert_eq!(number(&h, "x-ratelimit-remaining"), remaining);
        assert!((1..=60).contains(&number(&h, "x-ratelimit-reset")));
        assert!(h.get("retry-after").is_none());
        assert!(h.get("x-llm-proxy-degraded").is_none());
    }
    let (s, h, b) = app.send_json(app.chat(&bearer), &body).await;
    assert_error(s, &h, &b, 429, "rate_limit_exceeded");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(b["error"]["message"].as_str().unwrap().contains("token"));
    assert!((1..=60).contains(&number(&h, "retry-after")));
    assert_eq!(number(&h, "x-ratelimit-limit"), 3);
    assert_eq!(number(&h, "x-ratelimit-remaining"), 0);
    assert!((1..=60).contains(&number(&h, "x-ratelimit-reset")));
    assert_eq!(app.upstream.request_count(), 3);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"llm_proxy_admission_refusals_total{reason="token_rate"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"llm_proxy_admission_mode{mode="memory"} 1"#));
    app.stop().await;
}

#[actix_web::test]
async fn project_rpm_is_shared_by_the_tokens_of_a_project() {
    let app = spawn_app().await;
    let project = app.create_project_with_rpm("rpm-project", Some(3)).await;
    let (first, _) = app.create_token(project.id, None, None).await;
    let (second, _) = app.create_token(project.id, None, None).await;
    let body = TestApp::chat_body(false);

    for (i, secret) in [&first, &second, &first].into_iter().enumerate() {
        let bearer = format!("Bearer {}", secret.expose());
        let (s, h, b) = app.send_json(app.chat(&bearer), &body).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(number(&h, "x-ratelimit-limit"), 3);
        assert_eq!(number(&h, "x-ratelimit-remaining"), 2 - i as u64);
    }

    // The second token's next call, on the Anthropic route: refused for the project, in
    // Anthropic's envelope.
    let request = app
        .client
        .post(app.url("/anthropic/v1/messages"))
        .insert_header(("x-api-key", second.expose()))
        .insert_header(("anthropic-version", "2023-06-01"));
    let body = json!({"model": "claude-sonnet-4", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (s, h, b) = app.send_json(request, &body).await;
    assert_error(s, &h, &b, 429, "rate_limit_exceeded");
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(b["error"]["message"].as_str().unwrap().contains("project"));
    assert!(number(&h, "retry-after") >= 1);
    assert_eq!(number(&h, "x-ratelimit-limit"), 3);
    assert_eq!(number(&h, "x-ratelimit-remaining"), 0);
    assert_eq!(app.upstream.request_count(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn fail_closed_answers_503_when_redis_is_unreachable() {
    let app = spawn_app_with(|settings, _| {
        settings.redis.url = Some(llm_proxy_core::SecretString::new(closed_redis_url()));
        settings.redis.unavailable_policy = UnavailablePolicy::FailClosed;
    })
    .await;
    let seeded = app.seed().await;
    // Every refused call gets the policy; the third failure in a row counts Redis as down.
    for _ in 0..3 {
        let (s, h, b) = app
            .send_json(app.chat(&seeded.bearer()), &TestApp::chat_body(false))
            .await;
        assert_error(s, &h, &b, 503, "limits_unavailable");
    }
    assert_eq!(app.upstream.request_count(), 0);

    // Readiness is about storage: Redis being away does not take the node out.
    let (s, _, b) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["admission"], "unavailable");
    let metrics = app.metrics().await;
    for needle in [
        r#"llm_proxy_admission_mode{mode="unavailable"} 1"#,
        r#"llm_proxy_admission_refusals_total{reason="limits_unavailable"} 3"#,
        "llm_proxy_admission_redis_outages_total 1",
        "llm_proxy_admission_unavailable_total 3",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn degraded_admits_and_marks_the_answer() {
    let app = crate::helpers::spawn_app_full(
        |settings, _| {
            settings.redis.url = Some(llm_proxy_core::SecretString::new(closed_redis_url()));
            settings.redis.unavailable_policy = UnavailablePolicy::Degraded;
            settings.redis.degraded_node_count = 2;
        },
        ProxyParts::default(),
        None,
    )
    .await;
    let project = app.create_project("degraded").await;
    let (secret, _) = app
        .create_token_with_rpm(project.id, None, None, Some(4))
        .await;
    let bearer = format!("Bearer {}", secret.expose());
    let body = TestApp::chat_body(false);

    // This node's share of 4 rpm over 2 nodes is 2.
    for _ in 0..2 {
        let (s, h, b) = app.send_json(app.chat(&bearer), &body).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(header(&h, "x-llm-proxy-degraded"), Some("1"));
        assert_eq!(number(&h, "x-ratelimit-limit"), 2);
    }
    let (s, h, b) = app.send_json(app.chat(&bearer), &body).await;
    assert_error(s, &h, &b, 429, "rate_limit_exceeded");
    assert_eq!(header(&h, "x-llm-proxy-degraded"), Some("1"));

    let (s, _, b) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["admission"], "degraded");
    let metrics = app.metrics().await;
    for needle in [
        r#"llm_proxy_admission_mode{mode="degraded"} 1"#,
        "llm_proxy_admission_degraded_decisions_total 3",
        "llm_proxy_admission_redis_outages_total 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }
    app.stop().await;
}
