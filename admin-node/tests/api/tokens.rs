//! `/manage/tokens`.

use llm_proxy_core::audit::action;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::token_secret::{hash_secret, TokenSecret};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app};

#[actix_web::test]
async fn create_shows_the_secret_once_and_stores_only_its_hash() {
    let app = spawn_app().await;
    let project = app.create_project("tok").await;
    let pid = id_of(&project);
    let res = app
        .post(
            "/manage/tokens",
            json!({"project_id": pid, "duration_minutes": 90, "max_requests": 100}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let secret = res.body["token"].as_str().unwrap().to_owned();
    assert!(TokenSecret::parse(&secret).is_ok(), "{secret}");
    assert_eq!(res.body["max_requests"], 100);
    let expires: chrono::DateTime<chrono::Utc> =
        res.body["expires_at"].as_str().unwrap().parse().unwrap();
    let minutes = (expires - chrono::Utc::now()).num_minutes();
    assert!((88..=90).contains(&minutes), "{minutes}");

    let id = id_of(&res.body);
    let stored = app.store.get_token(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.token_hash, hash_secret(&secret));

    let got = app.get(&format!("/manage/tokens/{id}")).await;
    assert_eq!(got.status, 200);
    let shown = got.body["token"].as_str().unwrap();
    assert!(shown.starts_with("wt_") && shown.contains("..."), "{shown}");
    assert!(!got.body.to_string().contains(&secret));
    assert_eq!(got.body["request_count"], 0);
    assert!(got.body.get("last_used_at").is_some());

    let audit = app.audit(action::TOKEN_CREATE).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].token_id.map(|t| t.to_string()), Some(id));
    assert_eq!(audit[0].project_id.map(|t| t.to_string()), Some(pid));
    assert!(!serde_json::to_string(&audit[0]).unwrap().contains(&secret));
    app.stop().await;
}

#[actix_web::test]
async fn create_validates_every_field() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("v").await);
    for (body, field) in [
        (json!({"duration_minutes": 5}), "project_id"),
        (
            json!({"project_id": "nope", "duration_minutes": 5}),
            "project_id",
        ),
        (json!({"project_id": pid}), "duration_minutes"),
        (
            json!({"project_id": pid, "duration_minutes": 0}),
            "duration_minutes",
        ),
        (
            json!({"project_id": pid, "duration_minutes": 525601}),
            "duration_minutes",
        ),
        (
            json!({"project_id": pid, "duration_minutes": "5"}),
            "duration_minutes",
        ),
        (
            json!({"project_id": pid, "duration_minutes": 5, "max_requests": 0}),
            "max_requests",
        ),
        (
            json!({"project_id": pid, "duration_minutes": 5, "extra": 1}),
            "extra",
        ),
    ] {
        app.post("/manage/tokens", body).await.assert_invalid(field);
    }
    let ok = app
        .post(
            "/manage/tokens",
            json!({"project_id": pid, "duration_minutes": 525600}),
        )
        .await;
    assert_eq!(ok.status, 201);
    app.post(
        "/manage/tokens",
        json!({"project_id": Uuid::new_v4(), "duration_minutes": 5}),
    )
    .await
    .assert_error(404, "not_found");
    app.stop().await;
}

#[actix_web::test]
async fn list_filters_by_project_and_active() {
    let app = spawn_app().await;
    let a = id_of(&app.create_project("a").await);
    let b = id_of(&app.create_project("b").await);
    let t1 = app.create_token(&a).await;
    app.create_token(&a).await;
    app.create_token(&b).await;
    app.delete(&format!("/manage/tokens/{}", id_of(&t1))).await;

    let all = app.get("/manage/tokens").await;
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    let of_a = app.get(&format!("/manage/tokens?project_id={a}")).await;
    assert_eq!(of_a.body.as_array().unwrap().len(), 2);
    let active_a = app
        .get(&format!("/manage/tokens?project_id={a}&active=true"))
        .await;
    assert_eq!(active_a.body.as_array().unwrap().len(), 1);
    let inactive = app.get("/manage/tokens?active=false").await;
    assert_eq!(inactive.body.as_array().unwrap().len(), 1);
    for t in all.body.as_array().unwrap() {
        assert!(t["token"].as_str().unwrap().contains("..."));
    }
    app.get("/manage/tokens?project_id=bad")
        .await
        .assert_invalid("project_id");
    app.get("/manage/tokens?limit=x")
        .await
        .assert_invalid("limit");
    let page = app.get("/manage/tokens?limit=1&offset=1").await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn delete_revokes_idempotently_and_publishes() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("d").await);
    let token = app.create_token(&pid).await;
    let id = id_of(&token);
    let tid: Uuid = id.parse().unwrap();
    app.control_events();
    assert_eq!(
        app.delete(&format!("/manage/tokens/{id}")).await.status,
        204
    );
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::TokenChanged { token_id: tid }]
    );
    assert_eq!(
        app.delete(&format!("/manage/tokens/{id}")).await.status,
        204
    );
    let got = app.get(&format!("/manage/tokens/{id}")).await;
    assert_eq!(got.body["is_active"], false);
    assert!(got.body["deactivated_at"].is_string());
    assert_eq!(app.audit(action::TOKEN_REVOKE).await.len(), 2);
    app.delete(&format!("/manage/tokens/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    app.delete("/manage/tokens/123").await.assert_invalid("id");
    app.get(&format!("/manage/tokens/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    app.stop().await;
}

#[actix_web::test]
async fn patch_changes_limits_and_expiry_and_publishes() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("p").await);
    let id = id_of(&app.create_token(&pid).await);
    let tid: Uuid = id.parse().unwrap();
    app.control_events();
    let res = app
        .patch(
            &format!("/manage/tokens/{id}"),
            json!({"max_requests": 5, "duration_minutes": 10}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["max_requests"], 5);
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::TokenChanged { token_id: tid }]
    );
    let res = app
        .patch(
            &format!("/manage/tokens/{id}"),
            json!({"max_requests": null}),
        )
        .await;
    assert!(res.body["max_requests"].is_null());
    let res = app
        .patch(&format!("/manage/tokens/{id}"), json!({"is_active": false}))
        .await;
    assert_eq!(res.body["is_active"], false);
    assert_eq!(app.audit(action::TOKEN_UPDATE).await.len(), 3);
    for (body, field) in [
        (json!({"duration_minutes": 0}), "duration_minutes"),
        (json!({"max_requests": -1}), "max_requests"),
        (json!({"expires_at": "soon"}), "expires_at"),
        (json!({"expires_at": null}), "expires_at"),
        (
            json!({"duration_minutes": 5, "expires_at": "2030-01-01"}),
            "expires_at",
        ),
        (json!({"token": "x"}), "token"),
    ] {
        app.patch(&format!("/manage/tokens/{id}"), body)
            .await
            .assert_invalid(field);
    }
    app.patch(
        &format!("/manage/tokens/{}", Uuid::new_v4()),
        json!({"is_active": false}),
    )
    .await
    .assert_error(404, "not_found");
    app.stop().await;
}
