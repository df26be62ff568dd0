//! The response cache as a client sees it: POST only on opt-in, GET when the upstream allows,
//! `Vary`, `no-store`/`private`, per-project keys, hits that still check the token and count
//! as requests, completed streams replayed as streams, purges, and Redis shared by nodes.

use std::time::{Duration, Instant};

use awc::http::header::HeaderMap;
use llm_proxy_core::control::{CachePurgeScope, ControlEvent};
use proxy_node::ProxyParts;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, spawn_redis_app, TestApp};

const OPT_IN: (&str, &str) = ("cache-control", "public, max-age=60");

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

type Extra = Vec<(&'static str, &'static str)>;

async fn chat(app: &TestApp, bearer: String, body: Value, extra: Extra) -> (u16, HeaderMap, Value) {
    let mut request = app.chat(&bearer);
    for pair in extra {
        request = request.insert_header(pair);
    }
    app.send_json(request, &body).await
}

async fn models(app: &TestApp, bearer: String, extra: Extra) -> (u16, HeaderMap, Value) {
    let mut request = app
        .client
        .get(app.url("/v1/models"))
        .insert_header(("authorization", bearer));
    for pair in extra {
        request = request.insert_header(pair);
    }
    app.send(request).await
}

/// Repeats `call` until it is a hit (a store lands in the background), at most 50 times.
async fn until_hit<F, Fut>(mut call: F) -> (HeaderMap, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, HeaderMap, Value)>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, headers, body) = call().await;
        assert_eq!(status, 200, "{body}");
        if header(&headers, "x-proxy-cache") == "hit" {
            return (headers, body);
        }
        assert!(Instant::now() < deadline, "never a hit: {headers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn post_is_cached_only_when_the_request_opts_in() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let body = TestApp::chat_body(false);

    let (status, headers, first) = chat(&app, s.bearer(), body.clone(), vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-proxy-cache"), "bypass");
    assert_eq!(header(&headers, "cache-status"), "llm-proxy; fwd=method");
    chat(&app, s.bearer(), body.clone(), vec![]).await;
    assert_eq!(app.upstream.request_count(), 2);

    let (_, headers, stored) = chat(&app, s.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    let cache_status = header(&headers, "cache-status");
    assert!(
        cache_status.starts_with("llm-proxy; fwd=uri-miss; fwd-status=200; stored; key=\""),
        "{cache_status}"
    );
    assert!(cache_status.contains(&s.project.id.to_string()));
    assert_eq!(stored, first);

    let (headers, hit) = until_hit(|| chat(&app, s.bearer(), body.clone(), vec![OPT_IN])).await;
    assert_eq!(hit, first);
    assert!(header(&headers, "cache-status").starts_with("llm-proxy; hit; ttl="));
    assert!(headers.contains_key("age"));
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(app.upstream.request_count(), 3);

    // `no-store` on the request: neither looked up nor stored.
    let (_, headers, _) = chat(
        &app,
        s.bearer(),
        body.clone(),
        vec![("cache-control", "no-store")],
    )
    .await;
    assert_eq!(header(&headers, "x-proxy-cache"), "bypass");
    assert_eq!(app.upstream.request_count(), 4);

    let events = app.events(6).await;
    let hit_event = events
        .iter()
        .find(|e| e["cache"] == "hit")
        .unwrap_or_else(|| panic!("no hit event in {events:?}"));
    assert_eq!(hit_event["attempts"], 0);
    assert_eq!(hit_event["status"], 200);
    assert_eq!(hit_event["usage"], Value::Null);
    assert!(events
        .iter()
        .any(|e| e["cache"] == "stored" && e["attempts"] == 1));
    assert!(events.iter().any(|e| e["cache"] == "bypass"));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"llm_proxy_response_cache_total{result="hit"}"#),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn get_is_cached_when_the_upstream_allows_and_varies_by_its_vary() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let bearer = s.bearer();

    // No consent from the upstream: a miss every time.
    let (_, headers, _) = models(&app, bearer.clone(), vec![]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "miss");
    models(&app, bearer.clone(), vec![]).await;
    assert_eq!(app.upstream.request_count(), 2);

    // `private` and `no-store` answers are never kept.
    for refusal in ["private, max-age=60", "no-store"] {
        let cc = ("x-fake-cache-control", refusal);
        let (_, headers, _) = models(&app, bearer.clone(), vec![cc, ("x-case", refusal)]).await;
        assert_eq!(header(&headers, "x-proxy-cache"), "miss", "{refusal}");
    }

    let allow = ("x-fake-cache-control", "public, max-age=60");
    let vary = ("x-fake-vary", "Accept-Language");
    let de = ("accept-language", "de");
    let en = ("accept-language", "en");
    let (_, headers, _) = models(&app, bearer.clone(), vec![allow, vary, de]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    let before = app.upstream.request_count();
    until_hit(|| models(&app, bearer.clone(), vec![allow, vary, de])).await;
    assert_eq!(app.upstream.request_count(), before);

    // Another Accept-Language is another variant.
    let (_, headers, _) = models(&app, bearer.clone(), vec![allow, vary, en]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    assert!(
        header(&headers, "cache-status").contains("fwd=vary-miss"),
        "{headers:?}"
    );
    until_hit(|| models(&app, bearer.clone(), vec![allow, vary, en])).await;
    until_hit(|| models(&app, bearer.clone(), vec![allow, vary, de])).await;

    // `no-cache` from the client: straight to the upstream, and the fresh answer is kept.
    let (_, headers, _) = models(
        &app,
        bearer.clone(),
        vec![allow, vary, de, ("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    assert!(header(&headers, "cache-status").contains("fwd=request"));
    app.stop().await;
}

#[actix_web::test]
async fn projects_never_share_answers_and_hits_still_check_the_token() {
    let app = spawn_app().await;
    let a = app.seed_with(Some(2)).await;
    let b = app.seed().await;
    let body = TestApp::chat_body(false);

    chat(&app, a.bearer(), body.clone(), vec![OPT_IN]).await;
    until_hit(|| chat(&app, a.bearer(), body.clone(), vec![OPT_IN])).await;
    let count = app.upstream.request_count();

    // Same request, other project: its own miss.
    let (_, headers, _) = chat(&app, b.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    assert_eq!(app.upstream.request_count(), count + 1);

    // Hits count as requests: two were all this token had.
    let (status, _, error) = chat(&app, a.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["error"]["code"], "quota_exceeded");

    // A revoked token gets nothing, cached or not.
    until_hit(|| chat(&app, b.bearer(), body.clone(), vec![OPT_IN])).await;
    app.revoke(&b.token).await;
    let (status, _, error) = chat(&app, b.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(status, 401, "{error}");
    assert_eq!(error["error"]["code"], "token_inactive");
    app.stop().await;
}

#[actix_web::test]
async fn completed_streams_are_replayed_as_event_streams_and_cut_ones_are_not_kept() {
    let app = spawn_app_with(|settings, _| {
        if let Some(openai) = settings.providers.get_mut("openai") {
            openai.idle_timeout_ms = 300;
        }
    })
    .await;
    let s = app.seed().await;
    let body = TestApp::chat_body(true);

    let (status, headers, first) = chat(&app, s.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    let first = first.as_str().unwrap_or_default().to_owned();
    assert!(first.trim_end().ends_with("data: [DONE]"), "{first}");

    let (headers, replay) = until_hit(|| chat(&app, s.bearer(), body.clone(), vec![OPT_IN])).await;
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    assert_eq!(replay.as_str().unwrap_or_default(), first);

    // A stream the upstream never finished is not kept.
    let cut = json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "cut"}]});
    let stall = ("x-fake-stall-after", "2");
    chat(&app, s.bearer(), cut.clone(), vec![OPT_IN, stall]).await;
    let (_, headers, _) = chat(&app, s.bearer(), cut.clone(), vec![OPT_IN, stall]).await;
    assert_ne!(header(&headers, "x-proxy-cache"), "hit");
    app.stop().await;
}

#[actix_web::test]
async fn answers_over_the_object_limit_are_not_stored() {
    let app = spawn_app_with(|settings, _| settings.cache.max_object_bytes = 200).await;
    let s = app.seed().await;
    let body = TestApp::chat_body(false);
    let big = ("x-fake-chunks", "100");
    let (_, headers, _) = chat(&app, s.bearer(), body.clone(), vec![OPT_IN, big]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "miss");
    let (_, headers, _) = chat(&app, s.bearer(), body.clone(), vec![OPT_IN, big]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "miss");
    assert_eq!(app.upstream.request_count(), 2);
    app.stop().await;
}

fn body_n(n: usize) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("q{n}")}]})
}

#[actix_web::test]
async fn purge_by_key_prefix_and_project() {
    let app = spawn_app().await;
    let a = app.seed().await;
    let b = app.seed().await;
    let mut keys = Vec::new();
    for n in 0..3 {
        let (_, headers, _) = chat(&app, a.bearer(), body_n(n), vec![OPT_IN]).await;
        let status = header(&headers, "cache-status");
        let key = status
            .split("key=\"")
            .nth(1)
            .and_then(|k| k.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no key in {status}"));
        keys.push(key.to_owned());
        until_hit(|| chat(&app, a.bearer(), body_n(n), vec![OPT_IN])).await;
    }
    chat(&app, b.bearer(), body_n(0), vec![OPT_IN]).await;
    until_hit(|| chat(&app, b.bearer(), body_n(0), vec![OPT_IN])).await;

    let is_hit = |who: &crate::helpers::Seeded, n: usize| {
        let (app, bearer) = (&app, who.bearer());
        async move {
            let (_, headers, _) = chat(app, bearer, body_n(n), vec![OPT_IN]).await;
            header(&headers, "x-proxy-cache") == "hit"
        }
    };

    app.control.publish(ControlEvent::CachePurge {
        scope: CachePurgeScope::Key {
            key: keys[0].clone(),
        },
    });
    wait_for_miss(|| is_hit(&a, 0)).await;
    assert!(is_hit(&a, 1).await);

    // A prefix of the keys: everything of project A on this endpoint, whatever the body.
    let prefix = keys[1]
        .rsplit_once(':')
        .map(|(p, _)| format!("{p}:"))
        .unwrap_or_default();
    assert!(prefix.starts_with(&a.project.id.to_string()));
    app.control.publish(ControlEvent::CachePurge {
        scope: CachePurgeScope::Prefix { prefix },
    });
    wait_for_miss(|| is_hit(&a, 1)).await;
    assert!(!is_hit(&a, 2).await);
    // The other project's answers stay, until its own purge.
    assert!(is_hit(&b, 0).await);
    app.control.publish(ControlEvent::CachePurge {
        scope: CachePurgeScope::Project {
            project_id: b.project.id,
        },
    });
    wait_for_miss(|| is_hit(&b, 0)).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("llm_proxy_response_cache_purged_total"),
        "{metrics}"
    );
    app.stop().await;
}

/// Polls until `probe` answers a miss. Each miss stores again, so the probe is used only once
/// it turned false.
async fn wait_for_miss<F, Fut>(mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe().await {
        assert!(Instant::now() < deadline, "the purge never took effect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn redis_backend_is_shared_by_every_node_and_purged_for_all() {
    let app = spawn_redis_app(|_, _| {}, ProxyParts::default()).await;
    assert_eq!(app.state.cache.backend(), "redis");
    let peer = app.spawn_peer(ProxyParts::default());
    let s = app.seed().await;
    let body = TestApp::chat_body(false);

    let (_, headers, first) = chat(&app, s.bearer(), body.clone(), vec![OPT_IN]).await;
    assert_eq!(header(&headers, "x-proxy-cache"), "stored");
    let (_, hit) = until_hit(|| chat(&peer, s.bearer(), body.clone(), vec![OPT_IN])).await;
    assert_eq!(hit, first);
    assert_eq!(app.upstream.request_count(), 1);

    // A purge published on one node's bus empties the shared Redis.
    app.control.publish(ControlEvent::CachePurge {
        scope: CachePurgeScope::Project {
            project_id: s.project.id,
        },
    });
    let peer_ref = &peer;
    let bearer = s.bearer();
    wait_for_miss(|| {
        let bearer = bearer.clone();
        let body = body.clone();
        async move {
            let (_, headers, _) = chat(peer_ref, bearer, body.clone(), vec![OPT_IN]).await;
            header(&headers, "x-proxy-cache") == "hit"
        }
    })
    .await;
    peer.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_disabled_cache_adds_no_headers() {
    let app = spawn_app_with(|settings, _| settings.cache.enabled = false).await;
    let s = app.seed().await;
    let (status, headers, _) =
        chat(&app, s.bearer(), TestApp::chat_body(false), vec![OPT_IN]).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("x-proxy-cache"));
    app.stop().await;
}
