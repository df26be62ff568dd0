//! Budgets and the disconnect policy over the management API: set on create, changed and
//! removed with PATCH (a control event each time, so proxies reload them), checked field by
//! field; and on the admin project page.

use llm_proxy_core::control::ControlEvent;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, spawn_postgres_app, TestApp, OPENAI_KEY};

async fn budgets_round_trip(app: &TestApp) {
    let res = app
        .post(
            "/manage/projects",
            json!({
                "name": "capped",
                "api_key": OPENAI_KEY,
                "budget": {"period": "month", "max_tokens": 1_000_000, "max_cost_usd": 25.5},
                "on_disconnect": "drain",
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(
        res.body["budget"],
        json!({"period": "month", "max_tokens": 1_000_000, "max_cost_usd": 25.5})
    );
    assert_eq!(res.body["on_disconnect"], "drain");
    let pid = id_of(&res.body);
    let got = app.get(&format!("/manage/projects/{pid}")).await;
    assert_eq!(got.body["budget"]["max_cost_usd"], 25.5);
    let plain = app.create_project("plain").await;
    assert_eq!(plain["budget"], serde_json::Value::Null);
    assert_eq!(plain["on_disconnect"], "cancel");

    app.control_events();
    let res = app
        .patch(
            &format!("/manage/projects/{pid}"),
            json!({"budget": {"period": "lifetime", "max_tokens": 10}, "on_disconnect": "cancel"}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        res.body["budget"],
        json!({"period": "lifetime", "max_tokens": 10, "max_cost_usd": null})
    );
    let project_id: Uuid = pid.parse().unwrap();
    assert!(app
        .control_events()
        .contains(&ControlEvent::ProjectChanged { project_id }));
    let res = app
        .patch(&format!("/manage/projects/{pid}"), json!({"budget": null}))
        .await;
    assert_eq!(res.body["budget"], serde_json::Value::Null);

    for (body, param) in [
        (
            json!({"budget": {"period": "week", "max_tokens": 5}}),
            "budget.period",
        ),
        (json!({"budget": {"period": "month"}}), "budget"),
        (
            json!({"budget": {"period": "month", "max_cost_usd": 0}}),
            "budget.max_cost_usd",
        ),
        (json!({"on_disconnect": "later"}), "on_disconnect"),
    ] {
        app.patch(&format!("/manage/projects/{pid}"), body)
            .await
            .assert_invalid(param);
    }

    let res = app
        .post(
            "/manage/tokens",
            json!({"project_id": pid, "duration_minutes": 60,
                   "budget": {"period": "month", "max_tokens": 500}}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["budget"]["max_tokens"], 500);
    let tid = id_of(&res.body);
    let res = app
        .patch(
            &format!("/manage/tokens/{tid}"),
            json!({"budget": {"period": "lifetime", "max_cost_usd": 1}}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["budget"]["max_cost_usd"], 1.0);
    let token_id: Uuid = tid.parse().unwrap();
    assert!(app
        .control_events()
        .contains(&ControlEvent::TokenChanged { token_id }));
    let listed = app.get(&format!("/manage/tokens/{tid}")).await;
    assert_eq!(listed.body["budget"]["period"], "lifetime");
    app.post(
        "/manage/tokens",
        json!({"project_id": pid, "duration_minutes": 60, "budget": {"period": "month"}}),
    )
    .await
    .assert_invalid("budget");
}

#[actix_web::test]
async fn budgets_round_trip_on_sqlite() {
    let app = spawn_app().await;
    budgets_round_trip(&app).await;
    app.stop().await;
}

#[actix_web::test]
async fn budgets_round_trip_on_postgres() {
    let app = spawn_postgres_app().await;
    budgets_round_trip(&app).await;
    app.stop().await;
}

#[actix_web::test]
async fn the_project_page_shows_and_edits_the_budget() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("paged").await);
    let cookie = crate::usage::ui_login(&app).await;
    let (status, _, page) =
        crate::usage::ui_get(&app, &cookie, &format!("/admin/projects/{pid}")).await;
    assert_eq!(status, 200);
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..start + page[start..].find('"').unwrap()].to_owned();

    let res = app
        .client
        .post(app.url(&format!("/admin/projects/{pid}")))
        .insert_header(("Cookie", cookie.clone()))
        .send_form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "paged"),
            ("budget_period", "month"),
            ("budget_max_tokens", "2000"),
            ("budget_max_cost_usd", "12.5"),
            ("on_disconnect", "drain"),
        ])
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let project = app.get(&format!("/manage/projects/{pid}")).await;
    assert_eq!(
        project.body["budget"],
        json!({"period": "month", "max_tokens": 2000, "max_cost_usd": 12.5})
    );
    assert_eq!(project.body["on_disconnect"], "drain");
    let (_, _, page) = crate::usage::ui_get(&app, &cookie, &format!("/admin/projects/{pid}")).await;
    assert!(page.contains("0 of 2,000 tokens"), "{page}");
    assert!(page.contains("<meter"));
    app.stop().await;
}
