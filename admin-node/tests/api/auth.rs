//! The management token guards every management route.

use actix_web::http::Method;
use admin_node::MANAGEMENT_ROUTES;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, MANAGEMENT_TOKEN};

fn concrete(path: &str) -> String {
    path.replace("{id}", "0190f5a2-0000-7000-8000-000000000000")
}

#[actix_web::test]
async fn every_route_but_the_document_needs_the_token() {
    let app = spawn_app().await;
    for (method, path) in MANAGEMENT_ROUTES {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
        let path = concrete(path);
        let wrong = format!("{MANAGEMENT_TOKEN}x");
        let short = &MANAGEMENT_TOKEN[..10];
        for token in [None, Some(wrong.as_str()), Some(short), Some("")] {
            let res = app
                .call_with(method.clone(), &path, body.clone(), token, &[])
                .await;
            if path == "/manage/openapi.json" {
                assert_eq!(res.status, 200, "{path}");
            } else {
                res.assert_error(401, "unauthorized");
            }
        }
        // With the token every route is registered (never the 404/405 fallback).
        let res = app
            .call_with(
                method.clone(),
                &path,
                body.clone(),
                Some(MANAGEMENT_TOKEN),
                &[],
            )
            .await;
        assert!(
            ![401, 405].contains(&res.status) && res.code() != "method_not_allowed",
            "{method} {path}: {res:?}"
        );
    }
    // Other schemes and casing.
    let res = app
        .call_with(
            Method::GET,
            "/manage/projects",
            None,
            None,
            &[("Authorization", &format!("Basic {MANAGEMENT_TOKEN}"))],
        )
        .await;
    res.assert_error(401, "unauthorized");
    let res = app
        .call_with(
            Method::GET,
            "/manage/projects",
            None,
            None,
            &[("Authorization", &format!("bearer {MANAGEMENT_TOKEN}"))],
        )
        .await;
    assert_eq!(res.status, 200);
    app.stop().await;
}

#[actix_web::test]
async fn without_a_configured_token_everything_is_refused() {
    let app = spawn_app_with(|s| s.management_token = None).await;
    app.get("/manage/projects")
        .await
        .assert_error(401, "unauthorized");
    app.stop().await;
}
