//! `/manage/projects`.

use actix_web::http::Method;
use llm_proxy_core::audit::action;
use llm_proxy_core::control::ControlEvent;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, OPENAI_KEY};

#[actix_web::test]
async fn create_returns_201_with_hints_never_keys_and_audits() {
    let app = spawn_app().await;
    let res = app
        .call_with(
            Method::POST,
            "/manage/projects",
            Some(json!({
                "name": "alpha",
                "provider_keys": {"openai": OPENAI_KEY, "anthropic": "sk-ant-api03-secret-key-9999"},
                "rate_limit_rpm": 60
            })),
            Some(crate::helpers::MANAGEMENT_TOKEN),
            &[("x-request-id", "req-create-alpha")],
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert!(res.content_type.starts_with("application/json"));
    let body = &res.body;
    for field in [
        "id",
        "name",
        "is_active",
        "created_at",
        "updated_at",
        "providers",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["is_active"], true);
    assert_eq!(body["providers"]["openai"]["key_hint"], "sk-...1234");
    let text = body.to_string();
    assert!(
        !text.contains(OPENAI_KEY) && !text.contains("secret-key"),
        "{text}"
    );

    let audit = app.audit(action::PROJECT_CREATE).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "management_api");
    assert_eq!(audit[0].request_id.as_deref(), Some("req-create-alpha"));
    assert_eq!(audit[0].client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        audit[0].project_id.map(|p| p.to_string()),
        Some(id_of(body))
    );
    app.stop().await;
}

#[actix_web::test]
async fn create_validates_fields_and_refuses_duplicates() {
    let app = spawn_app().await;
    app.create_project("dup").await;
    app.post("/manage/projects", json!({"name": "dup"}))
        .await
        .assert_error(409, "conflict");
    app.post("/manage/projects", json!({}))
        .await
        .assert_invalid("name");
    app.post("/manage/projects", json!({"name": "  "}))
        .await
        .assert_invalid("name");
    app.post("/manage/projects", json!({"name": 5}))
        .await
        .assert_invalid("name");
    app.post("/manage/projects", json!({"name": "x".repeat(201)}))
        .await
        .assert_invalid("name");
    app.post("/manage/projects", json!({"name": "a", "nmae": "b"}))
        .await
        .assert_invalid("nmae");
    app.post("/manage/projects", json!({"name": "a", "api_key": ""}))
        .await
        .assert_invalid("api_key");
    app.post(
        "/manage/projects",
        json!({"name": "a", "provider_keys": {"nope": "k"}}),
    )
    .await
    .assert_invalid("provider_keys.nope");
    app.post(
        "/manage/projects",
        json!({"name": "a", "rate_limit_rpm": 0}),
    )
    .await
    .assert_invalid("rate_limit_rpm");
    app.post("/manage/projects", json!(["not", "an", "object"]))
        .await
        .assert_invalid("body");
    // Malformed JSON goes through the same envelope.
    let mut res = app
        .client
        .post(app.url("/manage/projects"))
        .insert_header((
            "Authorization",
            format!("Bearer {}", crate::helpers::MANAGEMENT_TOKEN),
        ))
        .insert_header(("Content-Type", "application/json"))
        .send_body("{not json")
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    app.stop().await;
}

#[actix_web::test]
async fn list_get_and_404_400() {
    let app = spawn_app().await;
    let a = app.create_project("a-project").await;
    app.create_project("b-project").await;
    let list = app.get("/manage/projects").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let got = app.get(&format!("/manage/projects/{}", id_of(&a))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "a-project");
    app.get(&format!("/manage/projects/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    app.get("/manage/projects/not-a-uuid")
        .await
        .assert_invalid("id");
    app.get("/manage/projects?active=maybe")
        .await
        .assert_invalid("active");
    let inactive = app.get("/manage/projects?active=false").await;
    assert_eq!(inactive.body.as_array().unwrap().len(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn patch_updates_publishes_and_deactivates_with_token_revocation() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let id = id_of(&project);
    let token = app.create_token(&id).await;
    app.control_events();

    let res = app
        .patch(
            &format!("/manage/projects/{id}"),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["name"], "renamed");
    assert!(
        app.control_events().is_empty(),
        "a rename changes no admission"
    );

    let res = app
        .patch(
            &format!("/manage/projects/{id}"),
            json!({"api_key": "sk-proj-rotated-key-00005678"}),
        )
        .await;
    assert_eq!(res.body["providers"]["openai"]["key_hint"], "sk-...5678");
    let pid: Uuid = id.parse().unwrap();
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::ProjectChanged { project_id: pid }]
    );

    let res = app
        .patch(
            &format!("/manage/projects/{id}"),
            json!({"is_active": false, "revoke_tokens": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["is_active"], false);
    assert_eq!(res.body["tokens_revoked"], 1);
    assert!(app
        .control_events()
        .contains(&ControlEvent::ProjectChanged { project_id: pid }));
    let t = app.get(&format!("/manage/tokens/{}", id_of(&token))).await;
    assert_eq!(t.body["is_active"], false);
    assert_eq!(app.audit(action::PROJECT_DEACTIVATE).await.len(), 1);
    assert_eq!(app.audit(action::PROJECT_UPDATE).await.len(), 2);

    // Still answers GET, inactive.
    let got = app.get(&format!("/manage/projects/{id}")).await;
    assert_eq!(got.body["is_active"], false);

    app.patch(
        &format!("/manage/projects/{id}"),
        json!({"is_active": "no"}),
    )
    .await
    .assert_invalid("is_active");
    app.patch(
        &format!("/manage/projects/{}", Uuid::new_v4()),
        json!({"name": "x"}),
    )
    .await
    .assert_error(404, "not_found");
    app.stop().await;
}

#[actix_web::test]
async fn patch_to_a_taken_name_is_409() {
    let app = spawn_app().await;
    app.create_project("one").await;
    let two = app.create_project("two").await;
    app.patch(
        &format!("/manage/projects/{}", id_of(&two)),
        json!({"name": "one"}),
    )
    .await
    .assert_error(409, "conflict");
    app.stop().await;
}

#[actix_web::test]
async fn delete_soft_deletes_revokes_and_blocks_new_tokens() {
    let app = spawn_app().await;
    let project = app.create_project("to-delete").await;
    let id = id_of(&project);
    app.create_token(&id).await;
    app.create_token(&id).await;
    app.control_events();
    let res = app.delete(&format!("/manage/projects/{id}")).await;
    assert_eq!(res.status, 204);
    let pid: Uuid = id.parse().unwrap();
    assert!(app
        .control_events()
        .contains(&ControlEvent::ProjectChanged { project_id: pid }));
    let active = app
        .get(&format!("/manage/tokens?project_id={id}&active=true"))
        .await;
    assert_eq!(active.body.as_array().unwrap().len(), 0);
    let got = app.get(&format!("/manage/projects/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["is_active"], false);
    let audit = app.audit(action::PROJECT_DEACTIVATE).await;
    assert_eq!(audit[0].metadata["tokens_revoked"], 2);

    app.post(
        "/manage/tokens",
        json!({"project_id": id, "duration_minutes": 5}),
    )
    .await
    .assert_error(403, "project_inactive");
    app.delete(&format!("/manage/projects/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    app.delete("/manage/projects/xyz")
        .await
        .assert_invalid("id");
    app.stop().await;
}

#[actix_web::test]
async fn bulk_revoke_returns_counts() {
    let app = spawn_app().await;
    let project = app.create_project("bulk").await;
    let id = id_of(&project);
    for _ in 0..3 {
        app.create_token(&id).await;
    }
    app.control_events();
    let res = app
        .post(&format!("/manage/projects/{id}/tokens/revoke"), json!({}))
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["revoked_count"], 3);
    assert_eq!(res.body["project_id"], id.as_str());
    let pid: Uuid = id.parse().unwrap();
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::ProjectChanged { project_id: pid }]
    );
    assert!(!app.audit(action::TOKEN_REVOKE_BULK).await.is_empty());
    let again = app
        .post(&format!("/manage/projects/{id}/tokens/revoke"), json!({}))
        .await;
    assert_eq!(again.body["revoked_count"], 0);
    app.post(
        &format!("/manage/projects/{}/tokens/revoke", Uuid::new_v4()),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.stop().await;
}
