//! The core CRUD against Postgres (same API, other backend).

use llm_proxy_core::audit::action;
use llm_proxy_core::control::ControlEvent;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_postgres_app};

#[actix_web::test]
async fn core_crud_on_postgres() {
    let app = spawn_postgres_app().await;
    let project = app.create_project("pg-project").await;
    let pid = id_of(&project);
    app.post("/manage/projects", json!({"name": "pg-project"}))
        .await
        .assert_error(409, "conflict");
    let token = app.create_token(&pid).await;
    let tid = id_of(&token);
    let got = app.get(&format!("/manage/tokens/{tid}")).await;
    assert_eq!(got.body["is_active"], true);
    app.control_events();
    assert_eq!(
        app.delete(&format!("/manage/tokens/{tid}")).await.status,
        204
    );
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::TokenChanged {
            token_id: tid.parse().unwrap()
        }]
    );
    assert_eq!(
        app.delete(&format!("/manage/projects/{pid}")).await.status,
        204
    );
    let got = app.get(&format!("/manage/projects/{pid}")).await;
    assert_eq!(got.body["is_active"], false);
    app.post(
        "/manage/tokens",
        json!({"project_id": pid, "duration_minutes": 5}),
    )
    .await
    .assert_error(403, "project_inactive");
    app.get(&format!("/manage/projects/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    let audit = app.get("/manage/audit").await;
    assert_eq!(audit.body["events"].as_array().unwrap().len(), 4);
    assert_eq!(app.audit(action::TOKEN_REVOKE).await.len(), 1);
    let ready = app
        .call_with(actix_web::http::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(ready.body["store"], "postgres");
    app.stop().await;
}
