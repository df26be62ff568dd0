//! Usage, cache purge, the OpenAPI document, fallbacks and health.

use actix_web::http::Method;
use admin_node::MANAGEMENT_ROUTES;
use chrono::Utc;
use llm_proxy_core::control::{CachePurgeScope, ControlEvent};
use llm_proxy_core::token::TokenUsage;
use llm_proxy_store::UsageRecord;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app};

#[actix_web::test]
async fn usage_reads_the_ledger_and_token_counters() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("u").await);
    let other = id_of(&app.create_project("other").await);
    let tid = id_of(&app.create_token(&pid).await);
    let project_id: Uuid = pid.parse().unwrap();
    let token_id: Uuid = tid.parse().unwrap();
    let record = |prompt, completion, is_error| UsageRecord {
        event_id: Uuid::now_v7(),
        occurred_at: Utc::now(),
        project_id,
        token_id: Some(token_id),
        provider: "openai".into(),
        model: Some("gpt-4o-mini".into()),
        is_error,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: 0,
        cost_nano_usd: 0,
    };
    app.store
        .record_usage(&[
            record(10, 5, false),
            record(7, 3, false),
            record(0, 0, true),
        ])
        .await
        .unwrap();
    app.store
        .record_token_usage(&[TokenUsage {
            token_id,
            requests: 3,
            last_used_at: Utc::now(),
        }])
        .await
        .unwrap();

    let res = app.get(&format!("/manage/usage?project_id={pid}")).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["totals"]["requests"], 3);
    assert_eq!(res.body["totals"]["errors"], 1);
    assert_eq!(res.body["totals"]["prompt_tokens"], 17);
    assert_eq!(res.body["totals"]["total_tokens"], 25);
    assert_eq!(res.body["projects"][0]["project_id"], pid.as_str());
    assert_eq!(
        res.body["projects"][0]["tokens"][0]["token_id"],
        tid.as_str()
    );
    assert_eq!(res.body["token_counters"][0]["request_count"], 3);
    assert!(res.body["sources"]["usage"]
        .as_str()
        .unwrap()
        .contains("ledger"));

    let none = app.get(&format!("/manage/usage?project_id={other}")).await;
    assert_eq!(none.body["totals"]["requests"], 0);
    let future = app.get("/manage/usage?since=2999-01-01").await;
    assert_eq!(future.body["totals"]["requests"], 0);
    let by_token = app.get(&format!("/manage/usage?token_id={tid}")).await;
    assert_eq!(by_token.body["totals"]["requests"], 3);
    app.get("/manage/usage?since=nope")
        .await
        .assert_invalid("since");
    app.get("/manage/usage?since=2026-02-01&until=2026-01-01")
        .await
        .assert_invalid("until");
    app.get("/manage/usage?project_id=x")
        .await
        .assert_invalid("project_id");
    app.stop().await;
}

#[actix_web::test]
async fn cache_purge_publishes_the_scope_and_is_audited() {
    let app = spawn_app().await;
    let mut control = app.control.subscribe();
    let project = uuid::Uuid::new_v4();
    let res = app
        .post(
            "/manage/cache/purge",
            json!({"project_id": project.to_string()}),
        )
        .await;
    assert_eq!(res.status, 202, "{}", res.body);
    assert_eq!(res.body["status"], "accepted");
    assert_eq!(res.body["scope"]["by"], "project");
    assert_eq!(
        control.try_recv().ok(),
        Some(ControlEvent::CachePurge {
            scope: CachePurgeScope::Project {
                project_id: project
            }
        })
    );
    for body in [
        json!({"key": "k"}),
        json!({"prefix": "p:"}),
        json!({"all": true}),
    ] {
        let res = app.post("/manage/cache/purge", body).await;
        assert_eq!(res.status, 202, "{}", res.body);
    }
    for (body, field) in [
        (json!({}), "body"),
        (json!({"key": "k", "prefix": "p"}), "body"),
        (json!({"key": ""}), "key"),
        (json!({"project_id": "nope"}), "project_id"),
        (json!({"all": false}), "all"),
        (json!({"url": "/v1"}), "url"),
    ] {
        app.post("/manage/cache/purge", body)
            .await
            .assert_invalid(field);
    }
    let res = app.call(Method::POST, "/manage/cache/purge", None).await;
    assert_eq!(res.status, 400);
    assert_eq!(app.audit("cache.purge").await.len(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn openapi_document_is_served_and_lists_every_route() {
    let app = spawn_app().await;
    let res = app
        .call_with(Method::GET, "/manage/openapi.json", None, None, &[])
        .await;
    assert_eq!(res.status, 200);
    assert!(res.content_type.starts_with("application/json"));
    assert_eq!(res.body["openapi"], "3.1.0");
    for (method, path) in MANAGEMENT_ROUTES {
        assert!(
            res.body["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} is not documented"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    app.get("/manage/nothing")
        .await
        .assert_error(404, "not_found");
    let res = app.call(Method::PUT, "/manage/projects", None).await;
    res.assert_error(405, "method_not_allowed");
    let allow = res.headers.get("allow").unwrap().to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.call(Method::POST, "/manage/tokens/abc", Some(json!({})))
        .await
        .assert_error(405, "method_not_allowed");
    app.stop().await;
}

#[actix_web::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let res = app
        .call_with(Method::GET, "/healthz", None, None, &[])
        .await;
    assert_eq!(res.status, 200);
    let res = app.call_with(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["store"], "sqlite");
    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(text.contains("admin_tokens_expired_total"), "{text}");
    app.stop().await;
}
