//! `/healthz`, `/readyz`, `/metrics`.

use crate::helpers::{spawn_app, TestApp};

#[actix_web::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let (s, _, b) = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "ok");
    let (s, _, b) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["store"], "sqlite");

    let seeded = app.seed().await;
    let (s, _, _) = app
        .send_json(app.chat(&seeded.bearer()), &TestApp::chat_body(false))
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send_json(app.chat("Bearer nope"), &TestApp::chat_body(false))
        .await;
    assert_eq!(s, 401);

    let metrics = app.metrics().await;
    for needle in [
        r#"llm_proxy_requests_total{provider="openai",status_class="2xx"} 1"#,
        r#"llm_proxy_requests_total{provider="openai",status_class="4xx"} 1"#,
        "llm_proxy_request_duration_seconds_bucket",
        "llm_proxy_gateway_overhead_seconds_bucket",
        "llm_proxy_token_cache_misses_total",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }
    app.stop().await;
}
