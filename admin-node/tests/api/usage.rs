//! The usage ledger over the API: series by hour and day, the model filter, costs, and the CSV
//! export.

use chrono::{DurationRound, TimeDelta, Utc};
use llm_proxy_store::UsageRecord;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, MANAGEMENT_TOKEN};

fn record(project_id: Uuid, token_id: Uuid, model: &str, hours_ago: i64) -> UsageRecord {
    let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    UsageRecord {
        event_id: Uuid::now_v7(),
        occurred_at: hour - TimeDelta::hours(hours_ago) + TimeDelta::minutes(1),
        project_id,
        token_id: Some(token_id),
        provider: "openai".into(),
        model: Some(model.into()),
        is_error: false,
        prompt_tokens: 100,
        completion_tokens: 20,
        cached_tokens: 10,
        cost_nano_usd: 250_000_000,
    }
}

#[actix_web::test]
async fn usage_series_models_costs_and_csv() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("spend").await);
    let tid = id_of(&app.create_token(&pid).await);
    let (p, t): (Uuid, Uuid) = (pid.parse().unwrap(), tid.parse().unwrap());
    app.store
        .record_usage(&[
            record(p, t, "gpt-4o", 0),
            record(p, t, "gpt-4o", 0),
            record(p, t, "gpt-4o-mini", 3),
            record(p, t, "gpt-4o-mini", 30),
        ])
        .await
        .unwrap();

    let hourly = app
        .get(&format!(
            "/manage/usage?project_id={pid}&from=2d&group_by=hour"
        ))
        .await;
    assert_eq!(hourly.status, 200, "{hourly:?}");
    assert_eq!(hourly.body["group_by"], "hour");
    assert_eq!(hourly.body["totals"]["requests"], 4);
    assert_eq!(hourly.body["totals"]["total_tokens"], 480);
    assert!((hourly.body["totals"]["cost_usd"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let series = hourly.body["series"].as_array().unwrap();
    assert_eq!(series.len(), 3, "{series:?}");
    assert_eq!(series[2]["requests"], 2);
    assert!(series[0]["start"].as_str().unwrap() < series[2]["start"].as_str().unwrap());
    let models = hourly.body["models"].as_array().unwrap();
    assert_eq!(models[0]["model"], "gpt-4o");
    assert_eq!(models[0]["usage"]["requests"], 2);

    let mini = app
        .get(&format!(
            "/manage/usage?project_id={pid}&model=gpt-4o-mini&since=6h"
        ))
        .await;
    assert_eq!(mini.body["totals"]["requests"], 1, "{mini:?}");
    assert_eq!(mini.body["group_by"], "day");
    assert_eq!(mini.body["filter"]["model"], "gpt-4o-mini");

    app.get("/manage/usage?group_by=week")
        .await
        .assert_invalid("group_by");
    app.get("/manage/usage?since=1d&from=2d")
        .await
        .assert_invalid("from");

    let mut res = app
        .client
        .get(app.url(&format!(
            "/manage/usage/export?project_id={pid}&group_by=hour"
        )))
        .insert_header(("Authorization", format!("Bearer {MANAGEMENT_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/csv"));
    assert!(header("content-disposition").contains("attachment"));
    assert_eq!(header("x-llm-proxy-truncated"), "false");
    let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1 + 3, "{body}");
    assert!(lines[0].starts_with("start,project_id,token_id,provider,model,requests"));
    assert!(
        lines[3].contains(",gpt-4o,2,0,200,40,20,240,0.500000000"),
        "{body}"
    );

    let unauthorized = app
        .client
        .get(app.url("/manage/usage/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    app.stop().await;
}

/// The `llmp_admin_session` cookie of a fresh UI login.
pub async fn ui_login(app: &crate::helpers::TestApp) -> String {
    let mut form = app
        .client
        .get(app.url("/admin/login"))
        .send()
        .await
        .unwrap();
    let pre_session = form
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let html = String::from_utf8(form.body().await.unwrap().to_vec()).unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let res = app
        .client
        .post(app.url("/admin/login"))
        .insert_header(("Cookie", pre_session))
        .send_form(&[("csrf_token", csrf), ("token", MANAGEMENT_TOKEN)])
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    res.headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("llmp_admin_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap()
}

pub async fn ui_get(
    app: &crate::helpers::TestApp,
    cookie: &str,
    path: &str,
) -> (u16, String, String) {
    let mut res = app
        .client
        .get(app.url(path))
        .insert_header(("Cookie", cookie.to_owned()))
        .send()
        .await
        .unwrap();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = String::from_utf8(res.body().limit(4 << 20).await.unwrap().to_vec()).unwrap();
    (res.status().as_u16(), content_type, body)
}

#[actix_web::test]
async fn usage_pages_draw_charts_and_download_csv() {
    let app = spawn_app().await;
    let pid = id_of(&app.create_project("charted").await);
    let tid = id_of(&app.create_token(&pid).await);
    let (p, t): (Uuid, Uuid) = (pid.parse().unwrap(), tid.parse().unwrap());
    app.store
        .record_usage(&[record(p, t, "gpt-4o", 0), record(p, t, "gpt-4o-mini", 26)])
        .await
        .unwrap();
    let cookie = ui_login(&app).await;

    let (status, _, dashboard) = ui_get(&app, &cookie, "/admin").await;
    assert_eq!(status, 200);
    for id in ["dashboard-requests", "dashboard-tokens", "dashboard-cost"] {
        assert!(dashboard.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(dashboard.contains("<svg"), "server-rendered SVG");
    assert!(dashboard.contains("$0.50"), "cost this week");

    let (status, _, project) = ui_get(&app, &cookie, &format!("/admin/projects/{pid}")).await;
    assert_eq!(status, 200);
    assert!(project.contains("id=\"project-requests\""));
    assert!(project.contains("2 requests"), "30-day summary");

    let (status, _, page) = ui_get(
        &app,
        &cookie,
        &format!("/admin/usage?range=7d&project_id={pid}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"usage-cost\""));
    assert!(page.contains("gpt-4o-mini"), "{page}");
    assert_eq!(page.matches("<svg").count(), 3);
    let (status, _, hourly) = ui_get(&app, &cookie, "/admin/usage?range=24h").await;
    assert_eq!(status, 200);
    assert!(
        hourly.contains("gpt-4o") && !hourly.contains("gpt-4o-mini"),
        "24h hides the older call"
    );
    let (status, _, _) = ui_get(&app, &cookie, "/admin/usage?range=1y").await;
    assert_eq!(status, 400);

    let (status, content_type, csv) = ui_get(
        &app,
        &cookie,
        &format!("/admin/usage.csv?range=7d&project_id={pid}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let anonymous = app
        .client
        .get(app.url("/admin/usage.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status().as_u16(),
        303,
        "the UI export needs a login"
    );
    app.stop().await;
}
