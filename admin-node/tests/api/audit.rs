//! `/manage/audit`.

use llm_proxy_core::audit::action;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, MANAGEMENT_TOKEN};

#[actix_web::test]
async fn every_mutation_has_an_audit_row_listed_newest_first() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("audited").await);
    let tid = id_of(&app.create_token(&pid).await);
    app.patch(&format!("/manage/tokens/{tid}"), json!({"max_requests": 3}))
        .await;
    app.delete(&format!("/manage/tokens/{tid}")).await;
    app.patch(
        &format!("/manage/projects/{pid}"),
        json!({"rate_limit_rpm": 10}),
    )
    .await;
    app.post(&format!("/manage/projects/{pid}/tokens/revoke"), json!({}))
        .await;
    app.delete(&format!("/manage/projects/{pid}")).await;
    app.post("/manage/cache/purge", json!({"all": true})).await;

    let res = app.get("/manage/audit?limit=100").await;
    assert_eq!(res.status, 200);
    let events = res.body["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"cache.purge"), "{actions:?}");
    assert_eq!(actions.last(), Some(&action::PROJECT_CREATE), "{actions:?}");
    for expected in [
        action::PROJECT_DEACTIVATE,
        action::PROJECT_UPDATE,
        action::TOKEN_REVOKE,
        action::TOKEN_UPDATE,
        action::TOKEN_CREATE,
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing: {actions:?}"
        );
    }
    for e in events {
        assert_eq!(e["actor"], "management_api");
        assert!(e["request_id"].is_string());
        assert_eq!(e["outcome"], "success");
        if e["action"] != "cache.purge" {
            assert_eq!(e["project_id"], pid.as_str(), "{e}");
        }
    }
    app.stop().await;
}

#[actix_web::test]
async fn filters_pagination_and_get_by_id() {
    let app = spawn_app().await;
    let a = id_of(&app.create_project("a").await);
    let b = id_of(&app.create_project("b").await);
    app.create_token(&a).await;
    app.call_with(
        actix_web::http::Method::POST,
        "/manage/tokens",
        Some(json!({"project_id": b, "duration_minutes": 5})),
        Some(MANAGEMENT_TOKEN),
        &[("x-request-id", "find-me-42")],
    )
    .await;

    let by_action = app.get("/manage/audit?action=token.create").await;
    assert_eq!(by_action.body["events"].as_array().unwrap().len(), 2);
    let by_project = app.get(&format!("/manage/audit?project_id={a}")).await;
    assert_eq!(by_project.body["events"].as_array().unwrap().len(), 2);
    let by_request = app.get("/manage/audit?request_id=find-me-42").await;
    let found = by_request.body["events"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["project_id"], b.as_str());
    let by_actor = app
        .get("/manage/audit?actor=management_api&outcome=success")
        .await;
    assert_eq!(by_actor.body["events"].as_array().unwrap().len(), 4);
    let none = app.get("/manage/audit?outcome=failure").await;
    assert_eq!(none.body["events"].as_array().unwrap().len(), 0);
    let future = app.get("/manage/audit?since=2999-01-01").await;
    assert_eq!(future.body["events"].as_array().unwrap().len(), 0);
    let past = app.get("/manage/audit?until=2000-01-01T00:00:00Z").await;
    assert_eq!(past.body["events"].as_array().unwrap().len(), 0);

    let page1 = app.get("/manage/audit?limit=3").await;
    assert_eq!(page1.body["pagination"]["has_more"], true);
    assert_eq!(page1.body["pagination"]["count"], 3);
    let page2 = app.get("/manage/audit?limit=3&offset=3").await;
    assert_eq!(page2.body["pagination"]["has_more"], false);
    assert_eq!(page2.body["events"].as_array().unwrap().len(), 1);

    let first = page1.body["events"][0].clone();
    let got = app
        .get(&format!("/manage/audit/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, first);
    app.get(&format!("/manage/audit/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "not_found");
    app.get("/manage/audit/zzz").await.assert_invalid("id");
    app.get("/manage/audit?outcome=meh")
        .await
        .assert_invalid("outcome");
    app.get("/manage/audit?since=yesterday")
        .await
        .assert_invalid("since");
    app.get("/manage/audit?limit=0")
        .await
        .assert_invalid("limit");
    app.get("/manage/audit?limit=501")
        .await
        .assert_invalid("limit");
    app.get("/manage/audit?project_id=1")
        .await
        .assert_invalid("project_id");
    app.get("/manage/audit?bogus=1")
        .await
        .assert_invalid("bogus");
    app.stop().await;
}
